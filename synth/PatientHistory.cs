namespace FederatedTwin.Synthetic;

/// <summary>One synthetic patient's life from <see cref="PopulationGenerator.FirstYear"/> on, drawn year by year from the ground-truth models.</summary>
internal sealed class PatientHistory
{
    private static readonly string[] Given = ["Maria", "James", "Aiko", "Mohammed", "Olga", "Kwame", "Lucia", "Chen", "Priya", "Tomasz", "Fatima", "Diego", "Ingrid", "Samuel", "Leila", "Noah"];
    private static readonly string[] Family = ["Garcia", "Okafor", "Nguyen", "Schmidt", "Haddad", "Kowalski", "Johansson", "Mensah", "Rossi", "Tanaka", "Ivanova", "Moreau", "Patel", "Fischer"];
    private static readonly string[] Cities = ["Springfield", "Riverton", "Fairview", "Lakeside", "Georgetown", "Madison", "Clinton", "Franklin"];
    private static readonly string[] Zips = ["66061", "66215", "03601", "59001", "10001", "36901", "82301", "60614", "99501"];

    private readonly int _index;
    private readonly SyntheticProfile _profile;
    private readonly SplitMix64 _rng;

    public PatientHistory(int index, SyntheticProfile profile, SplitMix64 rng, ulong seed)
    {
        _index = index;
        _profile = profile;
        _rng = rng;
        Id = rng.Guid();
        _ = seed;
        var age = Math.Clamp((int)Math.Round(profile.MeanAge + (profile.AgeSpread * rng.Normal())), 0, 99);
        BirthYear = PopulationGenerator.FirstYear - age;
        BirthDate = new DateOnly(BirthYear, 1 + rng.Next(12), 1 + rng.Next(28));
        Male = !rng.Chance(profile.FemaleShare);
    }

    public Guid Id { get; }

    public int BirthYear { get; }

    public DateOnly BirthDate { get; }

    public bool Male { get; }

    public void Write(FhirNdjsonWriter w)
    {
        var rng = _rng;
        var onset = new Dictionary<string, int>();
        foreach (var c in GroundTruth.Conditions)
        {
            if (rng.Chance(Math.Min(0.9, GroundTruth.BaselinePrevalence[c] * _profile.PrevalenceMultiplier * AgeFactor(PopulationGenerator.FirstYear))))
            {
                onset[c] = PopulationGenerator.FirstYear - 1 - rng.Next(10);
            }
        }

        int? deathYear = null;
        var admissions = 0;
        var edVisits = 0;
        var pid = Id.ToString();
        var encounters = new List<(Guid Id, string Class, DateOnly Start, int Days, double Cost)>(32);
        var observations = new List<(DateOnly Date, string Kind, double Value, double Value2)>(32);
        var visits = new List<(Guid Id, string Class, DateOnly Start, int Days, double Weight)>(16);

        // Year 2019: utilization drawn from the models with no prior year, to seed the chain.
        for (var year = PopulationGenerator.FirstYear; year <= PopulationGenerator.LastYear; year++)
        {
            // Onsets during the year (the first year keeps only what was present at the start).
            if (year > PopulationGenerator.FirstYear)
            {
                foreach (var c in GroundTruth.Conditions)
                {
                    if (!onset.ContainsKey(c) && rng.Chance(GroundTruth.OnsetHazard[c] * _profile.PrevalenceMultiplier * AgeFactor(year)))
                    {
                        onset[c] = year;
                    }
                }
            }

            // This year's outcomes, from last year's features (FirstYear: priors of zero).
            var prior = (Admissions: Math.Min(admissions, 3), Ed: Math.Min(edVisits, 3));
            double Feature(string name) => name switch
            {
                "age_decades_over_65" => (year - 1 - BirthYear - 65) / 10.0,
                "sex_male" => Male ? 1 : 0,
                "prior_admissions" => prior.Admissions,
                "prior_ed_visits" => prior.Ed,
                _ => onset.TryGetValue(name, out var y) && y <= year - 1 ? 1 : 0,
            };

            if (year > PopulationGenerator.FirstYear && rng.Chance(Logistic(GroundTruth.Death.LinearPredictor(Feature))))
            {
                deathYear = year;
            }

            admissions = rng.Chance(Logistic(GroundTruth.Admission.LinearPredictor(Feature) + Math.Log(_profile.UtilizationMultiplier))) ? 1 + rng.Poisson(0.25) : 0;
            edVisits = rng.Poisson(Math.Exp(GroundTruth.EdVisits.LinearPredictor(Feature)) * _profile.UtilizationMultiplier);
            var cost = Math.Exp(GroundTruth.Cost.LinearPredictor(Feature) + (0.8 * rng.Normal())) * _profile.CostMultiplier;
            var lastDay = deathYear == year ? 180 : 365;

            // Encounters: one annual ambulatory visit carries the cost not spent in ED and inpatient stays.
            visits.Clear();
            var total = 0.0;
            for (var a = 0; a < admissions; a++)
            {
                var days = 1 + rng.Poisson(3);
                visits.Add((rng.Guid(), "IMP", Day(year, rng.Next(lastDay)), days, 8.0 * (1 + days)));
                total += 8.0 * (1 + days);
            }

            for (var e = 0; e < edVisits; e++)
            {
                visits.Add((rng.Guid(), "EMER", Day(year, rng.Next(lastDay)), 0, 1.5));
                total += 1.5;
            }

            visits.Add((rng.Guid(), "AMB", Day(year, rng.Next(lastDay)), 0, 1.0));
            total += 1.0;
            foreach (var v in visits)
            {
                encounters.Add((v.Id, v.Class, v.Start, v.Days, Math.Round(cost * v.Weight / total, 2)));
            }

            if (onset.ContainsKey("diabetes"))
            {
                observations.Add((Day(year, rng.Next(lastDay)), "hba1c", Math.Round(6.5 + (1.2 * Math.Abs(rng.Normal())), 1), 0));
            }

            if (rng.Chance(0.7))
            {
                var hypertensive = onset.ContainsKey("hypertension") ? 18 : 0;
                observations.Add((Day(year, rng.Next(lastDay)), "bp", Math.Round(118 + hypertensive + (12 * rng.Normal())), Math.Round(76 + (hypertensive / 2.0) + (8 * rng.Normal()))));
            }

            if (deathYear == year)
            {
                break;
            }
        }

        var deceased = deathYear is { } dy ? Day(dy, 180 + rng.Next(180)) : (DateOnly?)null;
        w.Patient(pid, this, PickName(), deceased, Address(), Phone(), Ssn(), Mrn());
        foreach (var (condition, year) in onset)
        {
            w.Condition(rng.Guid(), pid, ConditionCode(condition), Day(Math.Max(year, BirthYear + 1), rng.Next(365)), sensitive: false);
        }

        if (rng.Chance(_profile.SubstanceUseRate))
        {
            // A 42 CFR Part 2 record: substance use disorder, labelled as such.
            w.Condition(rng.Guid(), pid, ("http://snomed.info/sct", "6525002"), Day(PopulationGenerator.FirstYear + rng.Next(5), rng.Next(365)), sensitive: true);
        }

        foreach (var e in encounters)
        {
            w.Encounter(e.Id, pid, e.Class, e.Start, e.Days);
            w.Claim(rng.Guid(), pid, e.Id, e.Start, e.Cost);
        }

        foreach (var o in observations)
        {
            w.Observation(rng.Guid(), pid, o.Kind, o.Date, o.Value, o.Value2);
        }

        if (rng.Chance(_profile.ResearchOptOutRate))
        {
            var from = Day(PopulationGenerator.FirstYear + rng.Next(6), rng.Next(365));
            w.ResearchOptOut(rng.Guid(), pid, from);
        }
    }

    private double AgeFactor(int year) => Math.Pow(2, (year - BirthYear - 65) / 20.0);

    private static double Logistic(double x) => 1 / (1 + Math.Exp(-x));

    private static DateOnly Day(int year, int dayOfYear) => new DateOnly(year, 1, 1).AddDays(Math.Clamp(dayOfYear, 0, 364));

    private (string Given, string Family) PickName() => ($"{Given[_rng.Next(Given.Length)]}{_rng.Next(1000)}", $"{Family[_rng.Next(Family.Length)]}{_rng.Next(1000)}");

    private (string Line, string City, string State, string Zip) Address() =>
        ($"{100 + _rng.Next(9800)} {Family[_rng.Next(Family.Length)]} Street Unit {_rng.Next(90) + 1}", Cities[_rng.Next(Cities.Length)], "KS", Zips[_rng.Next(Zips.Length)]);

    private string Phone() => $"555-{100 + _rng.Next(900)}-{1000 + _rng.Next(9000)}";

    private string Ssn() => $"999-{10 + _rng.Next(90)}-{1000 + _rng.Next(9000)}";

    private string Mrn() => $"MRN{_index:D7}{_rng.Next(1000):D3}";

    /// <summary>Codes as Synthea writes them, including an older and a newer code where Synthea changed (mapped alike by the node).</summary>
    private (string System, string Code) ConditionCode(string condition) => condition switch
    {
        "diabetes" => ("http://snomed.info/sct", _rng.Chance(0.5) ? "44054006" : "73211009"),
        "hypertension" => ("http://snomed.info/sct", "59621000"),
        "heart_failure" => ("http://snomed.info/sct", _rng.Chance(0.5) ? "88805009" : "84114007"),
        "copd" => ("http://snomed.info/sct", "13645005"),
        "ckd" => ("http://snomed.info/sct", _rng.Chance(0.5) ? "433144002" : "431855005"),
        "cad" => ("http://snomed.info/sct", "53741008"),
        "asthma" => ("http://snomed.info/sct", "195967001"),
        "depression" => ("http://snomed.info/sct", "370143000"),
        "obesity" => ("http://snomed.info/sct", "162864005"),
        "cancer" => ("http://hl7.org/fhir/sid/icd-10-cm", "C34.90"),
        "dementia" => ("http://snomed.info/sct", "26929004"),
        _ => throw new ArgumentOutOfRangeException(nameof(condition)),
    };
}
