namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// A node's local computation for one round of the federated GLM (GLORE, Wu et al. 2012, JAMIA; the
/// DataSHIELD ds.glm scheme): sums over its own rows only, laid out as <see cref="GlmRequest.Layout"/>.
/// The vector is meant to be encoded with FixedPointCodec and summed under encryption; only the sum is seen.
/// </summary>
public static class GlmNode
{
    /// <summary>
    /// The round's sums over this node's rows, on the statistics' own scale. Under DP they are the decoded integer sums of
    /// <see cref="Encode"/> (each patient's clipped contribution rounded to the fixed-point grid before it is added), so they
    /// are exactly what the node sends before its noise.
    /// </summary>
    public static double[] Compute(GlmSpec spec, GlmRequest request, GlmData data)
    {
        CheckRequest(spec, request, data);
        return spec.Privacy is { } dp
            ? Codec(spec, request).Decode(EncodePrivate(spec, dp, request, data))
            : ComputeExact(spec, request, data);
    }

    /// <summary>
    /// The round's sums as the fixed-point integers the node encrypts (before its noise share): exact studies encode the sums
    /// once; under DP every patient's clipped contribution is rounded to the grid and the rounded vectors are added exactly
    /// (<see cref="Privacy.EncodedPatientSum"/>), the form the sensitivity C_b·s + √d/2 holds for.
    /// </summary>
    public static long[] Encode(GlmSpec spec, GlmRequest request, GlmData data)
    {
        CheckRequest(spec, request, data);
        return spec.Privacy is { } dp
            ? EncodePrivate(spec, dp, request, data)
            : Codec(spec, request).Encode(ComputeExact(spec, request, data));
    }

    private static Crypto.Codec.FixedPointCodec Codec(GlmSpec spec, GlmRequest request) => new(request.Layout, spec.MaxParties);

    private static void CheckRequest(GlmSpec spec, GlmRequest request, GlmData data)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(data);
        bool nullDeviance = request.Kind == GlmRoundKind.Iterate && request.NullIntercept is not null;
        if (!request.Layout.SequenceEqual(GlmLayout.For(spec, request.Kind, request.TotalRows, request.Candidates, nullDeviance)))
        {
            throw new ArgumentException("The request's layout is not the one the study's spec defines for this round.", nameof(request));
        }
    }

    private static double[] ComputeExact(GlmSpec spec, GlmRequest request, GlmData data)
    {
        bool nullDeviance = request.Kind == GlmRoundKind.Iterate && request.NullIntercept is not null;
        CheckRows(spec, data);
        if (request.Candidates > 1 || nullDeviance)
        {
            return LineSearch(spec, request, data);
        }

        var blocks = new GlmBlocks(request.Layout);
        var v = new double[blocks.Length];
        v[blocks[GlmLayout.Count]] = 1;
        if (request.Kind == GlmRoundKind.Moments)
        {
            Moments(spec, data, blocks, v);
        }
        else
        {
            Irls(spec, request, data, blocks, v);
        }

        return v;
    }

    /// <summary>One round of a line search: the count block, then every candidate's blocks, each at its own β̃_t.</summary>
    private static double[] LineSearch(GlmSpec spec, GlmRequest request, GlmData data)
    {
        var single = GlmLayout.Irls(spec, request.TotalRows, start: false);
        int per = single.Sum(b => b.Length) - single[0].Length;
        int head = request.Layout.Count - (request.Candidates * (single.Count - 1)) == 2 ? single[0].Length + 1 : single[0].Length;
        var v = new double[request.Length];
        for (int c = 0; c < request.Candidates; c++)
        {
            var part = new double[single.Sum(b => b.Length)];
            var sub = request with { Layout = single, Beta = request.CandidateBeta(c), NullIntercept = null, LineSearchBase = null, Steps = null };
            Irls(spec, sub, data, new GlmBlocks(single), part);
            part[0] = 1;
            part.AsSpan(0, single[0].Length).CopyTo(v);
            part.AsSpan(single[0].Length).CopyTo(v.AsSpan(head + (c * per)));
        }

        if (request.NullIntercept is { } alpha)
        {
            double deviance = 0;
            for (int i = 0; i < data.Rows; i++)
            {
                double w = data.Weight(i);
                if (w != 0)
                {
                    deviance += GlmMath.Deviance(spec.Family, data.Y[i], GlmMath.LinkInverse(spec.Family, alpha + data.OffsetAt(i)), w);
                }
            }

            v[single[0].Length] = deviance;
        }

        return v;
    }

    private static void Moments(GlmSpec spec, GlmData data, GlmBlocks blocks, double[] v)
    {
        int k = data.Features;
        int rows = blocks[GlmLayout.Count] + 1, sw = blocks[GlmLayout.WeightSum], swy = blocks[GlmLayout.ResponseSum];
        int sx = blocks[GlmLayout.FeatureSum], sxx = blocks[GlmLayout.FeatureSumOfSquares];
        for (int i = 0; i < data.Rows; i++)
        {
            double w = data.Weight(i);
            if (w == 0)
            {
                continue;
            }

            v[rows]++;
            v[sw] += w;
            v[swy] += w * data.Y[i];
            if (spec.HasOffset)
            {
                v[blocks[GlmLayout.OffsetSum]] += w * GlmMath.OffsetStatistic(spec.Family, data.OffsetAt(i));
            }

            if (GlmMath.EstimatesDispersion(spec.Family))
            {
                v[blocks[GlmLayout.LogWeightSum]] += Math.Log(w);
            }

            var x = data.Row(i);
            for (int j = 0; j < k; j++)
            {
                v[sx + j] += x[j];
                v[sxx + j] += x[j] * x[j];
            }

            if (spec.StartFromNullModel)
            {
                double o = data.OffsetAt(i);
                double c = w * (spec.Family == GlmFamily.Poisson ? Math.Exp(o) : 1);
                double r = w * (data.Y[i] - (spec.Family == GlmFamily.Gaussian ? o : 0));
                int at = blocks[GlmLayout.StartCrossProducts], xy = blocks[GlmLayout.StartCrossResponse];
                for (int j = 0; j <= k; j++)
                {
                    double xj = j == 0 ? 1 : x[j - 1];
                    for (int l = j; l <= k; l++)
                    {
                        v[at++] += c * xj * (l == 0 ? 1 : x[l - 1]);
                    }

                    v[xy + j] += r * xj;
                }
            }
        }
    }

    private static void Irls(GlmSpec spec, GlmRequest request, GlmData data, GlmBlocks blocks, double[] v)
    {
        var std = request.Standardization ?? throw new ArgumentException("An IRLS round needs the standardization.", nameof(request));
        bool start = request.Kind == GlmRoundKind.Start;
        var beta = start ? null : request.Beta ?? throw new ArgumentException("An iteration needs β.", nameof(request));
        double nullIntercept = start ? request.NullIntercept ?? throw new ArgumentException("The start round needs the null intercept.", nameof(request)) : 0;
        int p = spec.Coefficients;
        if (beta is not null && beta.Count != p)
        {
            throw new ArgumentException($"β has {beta.Count} values, not {p}.", nameof(request));
        }

        var f = spec.Family;
        int rows = blocks[GlmLayout.Count] + 1, h = blocks[GlmLayout.Xtwx], g = blocks[GlmLayout.Xtwz], dev = blocks[GlmLayout.Deviance];
        int nullDev = start ? blocks[GlmLayout.NullDeviance] : -1;
        int aic = GlmMath.HasAicTerm(f) ? blocks[GlmLayout.Aic] : -1;
        int pearson = GlmMath.EstimatesDispersion(f) ? blocks[GlmLayout.Pearson] : -1;
        Span<double> x = stackalloc double[p];
        for (int i = 0; i < data.Rows; i++)
        {
            double w = data.Weight(i);
            if (w == 0)
            {
                continue;
            }

            double y = data.Y[i], o = data.OffsetAt(i);
            std.Standardize(data.Row(i), x);
            double eta;
            if (beta is null)
            {
                // R's glm.fit starts from η = g(μ0), without the offset, not from β = 0; with mustart = the null model's
                // means, η0 = α + o (the offset is part of those means).
                eta = spec.StartFromNullModel ? nullIntercept + o : GlmMath.Link(f, GlmMath.StartMean(f, y, w));
            }
            else
            {
                eta = o;
                for (int j = 0; j < p; j++)
                {
                    eta += x[j] * beta[j];
                }
            }

            var row = GlmRow.At(f, y, w, o, eta);
            int at = h;
            for (int j = 0; j < p; j++)
            {
                double wx = row.W * x[j];
                for (int l = j; l < p; l++)
                {
                    v[at++] += wx * x[l];
                }

                v[g + j] += row.W * row.Z * x[j];
            }

            v[rows]++;
            v[dev] += GlmMath.Deviance(f, y, row.Mu, w);
            if (nullDev >= 0)
            {
                v[nullDev] += GlmMath.Deviance(f, y, GlmMath.LinkInverse(f, nullIntercept + o), w);
            }

            if (aic >= 0)
            {
                v[aic] += GlmMath.AicTerm(f, y, row.Mu, w);
            }

            if (pearson >= 0)
            {
                v[pearson] += w * (y - row.Mu) * (y - row.Mu) / GlmMath.Variance(f, row.Mu);
            }
        }
    }

    /// <summary>
    /// The round's sums under differential privacy (<see cref="GlmPrivacy"/>), encoded: raw values clipped to the declared
    /// bounds, at most K rows per patient, features on the [−1, 1] design scale, each patient's total per block clipped to the
    /// block's L2 bound C_b, rounded to the block's fixed-point grid and added exactly in integers, so one patient moves
    /// block b by at most C_b·s_b + √d_b/2 (K·s exactly for the row count) whatever the order of patients. The count block says
    /// only that this node took part (rows: 0, since the row count is noised in the moments round and not sent again). Noise
    /// is added after (LocalFederatedGlm).
    /// </summary>
    private static long[] EncodePrivate(GlmSpec spec, GlmPrivacy dp, GlmRequest request, GlmData data)
    {
        if (data.Features != spec.FeatureNames.Count || spec.HasOffset != data.Offset is not null)
        {
            throw new ArgumentException("The node's rows do not have the study's features and offset.", nameof(data));
        }

        if (data.Rows > spec.Bounds.MaxRowsPerNode)
        {
            throw new ArgumentException("The node holds more rows than the study's declared MaxRowsPerNode.", nameof(data));
        }

        var blocks = new GlmBlocks(request.Layout);
        var sum = new Privacy.EncodedPatientSum(request.Layout);
        var names = request.Layout.Where(b => b.Name != GlmLayout.Count).ToList();
        var patient = new double[blocks.Length];
        var std = dp.Standardization();
        var f = spec.Family;
        var b = spec.Bounds;
        int p = spec.Coefficients;
        bool moments = request.Kind == GlmRoundKind.Moments;
        var beta = moments ? null : request.Beta ?? throw new ArgumentException("A Newton round needs β.", nameof(request));
        if (beta is not null && beta.Count != p)
        {
            throw new ArgumentException($"β has {beta.Count} values, not {p}.", nameof(request));
        }

        Span<double> raw = stackalloc double[data.Features];
        Span<double> x = stackalloc double[p];
        foreach (var rows in data.RowsByPatient(dp.MaxRowsPerPatient))
        {
            Array.Clear(patient);
            foreach (var i in rows)
            {
                double w = Math.Min(data.Weight(i), b.MaxWeight);
                double y = GlmPrivacy.ClipResponse(spec, data.Y[i]);
                double o = GlmPrivacy.ClipOffset(spec, data.OffsetAt(i));
                if (moments)
                {
                    patient[blocks[GlmPrivacy.RowCount]] += 1;
                    patient[blocks[GlmLayout.WeightSum]] += w;
                    patient[blocks[GlmLayout.ResponseSum]] += w * y;
                    if (spec.HasOffset)
                    {
                        patient[blocks[GlmLayout.OffsetSum]] += w * GlmMath.OffsetStatistic(f, o);
                    }

                    continue;
                }

                dp.ClipFeatures(data.Row(i), raw); // after the moments round's continue: it uses no features
                std.Standardize(raw, x);
                double eta = o;
                for (int j = 0; j < p; j++)
                {
                    eta += x[j] * beta![j];
                }

                // A wild β from noisy statistics must not overflow: e^50 is finite, and the clip below bounds the rest. The
                // identity link (Gaussian) has no overflow: its η is the mean itself, in the response's units, so it is held
                // to the declared |μ| ≤ M that sizes the score's bound (Y + M)·√p. Clamping it to ±50 as well pinned every
                // fitted cost at $50, so the score never reached 0 and the DP cost model was always refused.
                eta = f == GlmFamily.Gaussian ? Math.Clamp(eta, -b.Mean(f), b.Mean(f)) : Math.Clamp(eta, o - 50, o + 50);
                var r = GlmRow.At(f, y, w, o, eta);
                double residual = r.W * (r.Z - (eta - o)); // w·μ'(y − μ)/V: the score's row weight (w(y − μ) for canonical links)
                int at = blocks[GlmLayout.Xtwx], score = blocks[GlmPrivacy.Score];
                for (int j = 0; j < p; j++)
                {
                    double wx = r.W * x[j];
                    for (int l = j; l < p; l++)
                    {
                        patient[at++] += wx * x[l];
                    }

                    patient[score + j] += residual * x[j];
                }

                patient[blocks[GlmLayout.Deviance]] += GlmMath.Deviance(f, y, r.Mu, w);
                if (blocks.Has(GlmLayout.Aic))
                {
                    patient[blocks[GlmLayout.Aic]] += GlmMath.AicTerm(f, y, r.Mu, w);
                }

                if (blocks.Has(GlmLayout.Pearson))
                {
                    patient[blocks[GlmLayout.Pearson]] += w * (y - r.Mu) * (y - r.Mu) / GlmMath.Variance(f, r.Mu);
                }
            }

            foreach (var block in names)
            {
                if (block.Name != GlmPrivacy.RowCount)
                {
                    // The row count is at most K already (the cap); clipping it would only make it non-integral.
                    Privacy.Clipping.ClipToL2Norm(patient.AsSpan(blocks[block.Name], block.Length), dp.Clip(spec, block.Name));
                }
            }

            sum.Add(patient); // the patient's count-block entries are 0: that block is this node's, not its patients'
        }

        var encoded = sum.ToEncoded(Codec(spec, request));
        encoded[blocks[GlmLayout.Count]] = 1; // this node took part (scale 1)
        return encoded;
    }

    /// <summary>Checks the rows against the declared bounds; messages name the row and rule, never the value.</summary>
    private static void CheckRows(GlmSpec spec, GlmData data)
    {
        var b = spec.Bounds;
        if (data.Features != spec.FeatureNames.Count)
        {
            throw new ArgumentException($"The node holds {data.Features} features; the study has {spec.FeatureNames.Count}.", nameof(data));
        }

        if (spec.HasOffset != data.Offset is not null)
        {
            throw new ArgumentException(spec.HasOffset ? "The study needs an offset per row." : "The study has no offset.", nameof(data));
        }

        if (data.Rows > b.MaxRowsPerNode)
        {
            throw new ArgumentException("The node holds more rows than the study's declared MaxRowsPerNode.", nameof(data));
        }

        for (int i = 0; i < data.Rows; i++)
        {
            double w = data.Weight(i);
            if (w == 0)
            {
                continue;
            }

            double y = data.Y[i];
            string? broken =
                w > b.MaxWeight || w < b.MinPositiveWeight ? "its weight is outside [MinPositiveWeight, MaxWeight]"
                : spec.Family == GlmFamily.Binomial && !(y >= 0 && y <= 1) ? "a binomial response must be a proportion in [0, 1]"
                : spec.Family == GlmFamily.Poisson && y < 0 ? "a Poisson response must be non-negative"
                : Math.Abs(y) > b.MaxAbsResponse && spec.Family != GlmFamily.Binomial ? "its response exceeds MaxAbsResponse"
                : Math.Abs(data.OffsetAt(i)) > b.MaxAbsOffset ? "its offset exceeds MaxAbsOffset"
                : FeatureOutOfBounds(data.Row(i), b.MaxAbsFeature) is { } j ? $"feature '{spec.FeatureNames[j]}' exceeds MaxAbsFeature"
                : null;
            if (broken is not null)
            {
                throw new ArgumentException($"Row {i} breaks the study's declared bounds: {broken}.", nameof(data));
            }
        }
    }

    private static int? FeatureOutOfBounds(ReadOnlySpan<double> x, double max)
    {
        for (int j = 0; j < x.Length; j++)
        {
            if (Math.Abs(x[j]) > max)
            {
                return j;
            }
        }

        return null;
    }
}

/// <summary>One row's IRLS quantities at linear predictor η (offset included), as R's glm.fit computes them.</summary>
internal readonly record struct GlmRow(double Mu, double W, double Z)
{
    /// <summary>μ = g⁻¹(η), W = w·μ'(η)²/V(μ), z = η − o + (y − μ)/μ'(η).</summary>
    public static GlmRow At(GlmFamily family, double y, double w, double offset, double eta)
    {
        double mu = GlmMath.LinkInverse(family, eta);
        double muEta = GlmMath.MuEta(family, eta);
        return new GlmRow(mu, w * muEta * muEta / GlmMath.Variance(family, mu), eta - offset + ((y - mu) / muEta));
    }
}
