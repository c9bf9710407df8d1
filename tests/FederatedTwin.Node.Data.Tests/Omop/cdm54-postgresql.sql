-- OMOP CDM v5.4 tables the node's OMOP reader reads, plus the vocabulary tables its concept sets use and PAYER_PLAN_PERIOD,
-- hand-written from the OHDSI CDM v5.4 specification (ohdsi.github.io/CommonDataModel/cdm54.html; column order and types as its
-- PostgreSQL DDL, OMOPCDM_postgresql_5.4_ddl.sql: integer ids, date/timestamp, NUMERIC values, varchar lengths), primary keys
-- as its primary-key script. {schema} is replaced by the test.
CREATE TABLE {schema}.person (
  person_id integer NOT NULL PRIMARY KEY, gender_concept_id integer NOT NULL, year_of_birth integer NOT NULL, month_of_birth integer NULL,
  day_of_birth integer NULL, birth_datetime timestamp NULL, race_concept_id integer NOT NULL, ethnicity_concept_id integer NOT NULL,
  location_id integer NULL, provider_id integer NULL, care_site_id integer NULL, person_source_value varchar(50) NULL,
  gender_source_value varchar(50) NULL, gender_source_concept_id integer NULL, race_source_value varchar(50) NULL,
  race_source_concept_id integer NULL, ethnicity_source_value varchar(50) NULL, ethnicity_source_concept_id integer NULL);
CREATE TABLE {schema}.observation_period (
  observation_period_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, observation_period_start_date date NOT NULL,
  observation_period_end_date date NOT NULL, period_type_concept_id integer NOT NULL);
CREATE TABLE {schema}.visit_occurrence (
  visit_occurrence_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, visit_concept_id integer NOT NULL, visit_start_date date NOT NULL,
  visit_start_datetime timestamp NULL, visit_end_date date NOT NULL, visit_end_datetime timestamp NULL, visit_type_concept_id integer NOT NULL,
  provider_id integer NULL, care_site_id integer NULL, visit_source_value varchar(50) NULL, visit_source_concept_id integer NULL,
  admitted_from_concept_id integer NULL, admitted_from_source_value varchar(50) NULL, discharged_to_concept_id integer NULL,
  discharged_to_source_value varchar(50) NULL, preceding_visit_occurrence_id integer NULL);
CREATE TABLE {schema}.condition_occurrence (
  condition_occurrence_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, condition_concept_id integer NOT NULL,
  condition_start_date date NOT NULL, condition_start_datetime timestamp NULL, condition_end_date date NULL, condition_end_datetime timestamp NULL,
  condition_type_concept_id integer NOT NULL, condition_status_concept_id integer NULL, stop_reason varchar(20) NULL, provider_id integer NULL,
  visit_occurrence_id integer NULL, visit_detail_id integer NULL, condition_source_value varchar(50) NULL, condition_source_concept_id integer NULL,
  condition_status_source_value varchar(50) NULL);
CREATE TABLE {schema}.measurement (
  measurement_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, measurement_concept_id integer NOT NULL, measurement_date date NOT NULL,
  measurement_datetime timestamp NULL, measurement_time varchar(10) NULL, measurement_type_concept_id integer NOT NULL, operator_concept_id integer NULL,
  value_as_number NUMERIC NULL, value_as_concept_id integer NULL, unit_concept_id integer NULL, range_low NUMERIC NULL, range_high NUMERIC NULL,
  provider_id integer NULL, visit_occurrence_id integer NULL, visit_detail_id integer NULL, measurement_source_value varchar(50) NULL,
  measurement_source_concept_id integer NULL, unit_source_value varchar(50) NULL, unit_source_concept_id integer NULL, value_source_value varchar(50) NULL,
  measurement_event_id bigint NULL, meas_event_field_concept_id integer NULL);
CREATE TABLE {schema}.observation (
  observation_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, observation_concept_id integer NOT NULL, observation_date date NOT NULL,
  observation_datetime timestamp NULL, observation_type_concept_id integer NOT NULL, value_as_number NUMERIC NULL, value_as_string varchar(60) NULL,
  value_as_concept_id integer NULL, qualifier_concept_id integer NULL, unit_concept_id integer NULL, provider_id integer NULL,
  visit_occurrence_id integer NULL, visit_detail_id integer NULL, observation_source_value varchar(50) NULL, observation_source_concept_id integer NULL,
  unit_source_value varchar(50) NULL, qualifier_source_value varchar(50) NULL, value_source_value varchar(50) NULL, observation_event_id bigint NULL,
  obs_event_field_concept_id integer NULL);
CREATE TABLE {schema}.death (
  person_id integer NOT NULL, death_date date NOT NULL, death_datetime timestamp NULL, death_type_concept_id integer NULL,
  cause_concept_id integer NULL, cause_source_value varchar(50) NULL, cause_source_concept_id integer NULL);
CREATE TABLE {schema}.procedure_occurrence (
  procedure_occurrence_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, procedure_concept_id integer NOT NULL, procedure_date date NOT NULL,
  procedure_datetime timestamp NULL, procedure_end_date date NULL, procedure_end_datetime timestamp NULL, procedure_type_concept_id integer NOT NULL,
  modifier_concept_id integer NULL, quantity integer NULL, provider_id integer NULL, visit_occurrence_id integer NULL, visit_detail_id integer NULL,
  procedure_source_value varchar(50) NULL, procedure_source_concept_id integer NULL, modifier_source_value varchar(50) NULL);
CREATE TABLE {schema}.drug_exposure (
  drug_exposure_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, drug_concept_id integer NOT NULL, drug_exposure_start_date date NOT NULL,
  drug_exposure_start_datetime timestamp NULL, drug_exposure_end_date date NOT NULL, drug_exposure_end_datetime timestamp NULL,
  verbatim_end_date date NULL, drug_type_concept_id integer NOT NULL, stop_reason varchar(20) NULL, refills integer NULL, quantity NUMERIC NULL,
  days_supply integer NULL, sig TEXT NULL, route_concept_id integer NULL, lot_number varchar(50) NULL, provider_id integer NULL,
  visit_occurrence_id integer NULL, visit_detail_id integer NULL, drug_source_value varchar(50) NULL, drug_source_concept_id integer NULL,
  route_source_value varchar(50) NULL, dose_unit_source_value varchar(50) NULL);
CREATE TABLE {schema}.cost (
  cost_id integer NOT NULL PRIMARY KEY, cost_event_id integer NOT NULL, cost_domain_id varchar(20) NOT NULL, cost_type_concept_id integer NOT NULL,
  currency_concept_id integer NULL, total_charge NUMERIC NULL, total_cost NUMERIC NULL, total_paid NUMERIC NULL, paid_by_payer NUMERIC NULL,
  paid_by_patient NUMERIC NULL, paid_patient_copay NUMERIC NULL, paid_patient_coinsurance NUMERIC NULL, paid_patient_deductible NUMERIC NULL,
  paid_by_primary NUMERIC NULL, paid_ingredient_cost NUMERIC NULL, paid_dispensing_fee NUMERIC NULL, payer_plan_period_id integer NULL,
  amount_allowed NUMERIC NULL, revenue_code_concept_id integer NULL, revenue_code_source_value varchar(50) NULL, drg_concept_id integer NULL,
  drg_source_value varchar(3) NULL);
CREATE TABLE {schema}.payer_plan_period (
  payer_plan_period_id integer NOT NULL PRIMARY KEY, person_id integer NOT NULL, payer_plan_period_start_date date NOT NULL,
  payer_plan_period_end_date date NOT NULL, payer_concept_id integer NULL, payer_source_value varchar(50) NULL, payer_source_concept_id integer NULL,
  plan_concept_id integer NULL, plan_source_value varchar(50) NULL, plan_source_concept_id integer NULL, sponsor_concept_id integer NULL,
  sponsor_source_value varchar(50) NULL, sponsor_source_concept_id integer NULL, family_source_value varchar(50) NULL,
  stop_reason_concept_id integer NULL, stop_reason_source_value varchar(50) NULL, stop_reason_source_concept_id integer NULL);
CREATE TABLE {schema}.location (
  location_id integer NOT NULL PRIMARY KEY, address_1 varchar(50) NULL, address_2 varchar(50) NULL, city varchar(50) NULL, state varchar(2) NULL,
  zip varchar(9) NULL, county varchar(20) NULL, location_source_value varchar(50) NULL, country_concept_id integer NULL,
  country_source_value varchar(80) NULL, latitude NUMERIC NULL, longitude NUMERIC NULL);
CREATE TABLE {schema}.concept (
  concept_id integer NOT NULL PRIMARY KEY, concept_name varchar(255) NOT NULL, domain_id varchar(20) NOT NULL, vocabulary_id varchar(20) NOT NULL,
  concept_class_id varchar(20) NOT NULL, standard_concept varchar(1) NULL, concept_code varchar(50) NOT NULL, valid_start_date date NOT NULL,
  valid_end_date date NOT NULL, invalid_reason varchar(1) NULL);
CREATE TABLE {schema}.concept_ancestor (
  ancestor_concept_id integer NOT NULL, descendant_concept_id integer NOT NULL, min_levels_of_separation integer NOT NULL,
  max_levels_of_separation integer NOT NULL, PRIMARY KEY (ancestor_concept_id, descendant_concept_id));
CREATE TABLE {schema}.concept_relationship (
  concept_id_1 integer NOT NULL, concept_id_2 integer NOT NULL, relationship_id varchar(20) NOT NULL, valid_start_date date NOT NULL,
  valid_end_date date NOT NULL, invalid_reason varchar(1) NULL, PRIMARY KEY (concept_id_1, concept_id_2, relationship_id));
