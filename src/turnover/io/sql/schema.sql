-- Warehouse tables. Idempotent: run on every connection that writes.
create schema if not exists raw;
create schema if not exists ref;
create schema if not exists staging;
create schema if not exists marts;

create table if not exists raw.loaded_files (
    file_sha256     varchar primary key,
    file_path       varchar not null,
    file_format     varchar not null,
    mapping         varchar not null,
    loaded_at       timestamp not null,
    rows_read       bigint not null,
    rows_loaded     bigint not null,
    rows_rejected   bigint not null,
    ignored_columns varchar[],
    file_id         integer            -- the file's key in raw.dispensing: 1, 2, ... in load order
);

create table if not exists raw.dispensing (
    file_id      integer not null,     -- raw.loaded_files.file_id (an integer, not the 64-character hash, per row)
    line         bigint not null,      -- line in the source file (header = line 1); Parquet: row number
    dispensed_at timestamp not null,
    location_id  varchar not null,
    drug_id      varchar not null,     -- NDC normalised to 11 digits where it is one, else a local code
    quantity     double not null,      -- units; negative = return to stock
    drug_name    varchar,
    ndc          varchar
);

create table if not exists raw.dispensing_rejects (
    file_sha256  varchar not null,
    file_path    varchar not null,
    line         bigint,
    column_name  varchar,
    reason       varchar not null,
    -- the canonical fields as they were read (never the other columns of the export)
    raw_dispensed_at varchar,
    raw_location_id  varchar,
    raw_drug_id      varchar,
    raw_quantity     varchar
);

create table if not exists ref.loaded_files (
    kind        varchar not null,
    file_sha256 varchar not null,
    file_path   varchar not null,
    loaded_at   timestamp not null,
    rows_loaded bigint not null
);

create table if not exists ref.catalog (
    drug_id          varchar primary key,
    drug_name        varchar,
    pack_size_units  double,
    unit_cost        double,
    lead_time_days   integer,
    shelf_life_days  integer,
    criticality      varchar,
    generic_name     varchar,
    atc_code         varchar,
    min_par_units    double
);

create table if not exists ref.on_hand (
    location_id    varchar not null,
    drug_id        varchar not null,
    on_hand_units  double not null,
    on_order_units double not null,
    primary key (location_id, drug_id)
);

create table if not exists ref.on_hand_lots (
    location_id  varchar not null,
    drug_id      varchar not null,
    lot          varchar,            -- null: a lot-less snapshot (lot unknown)
    expiry_date  date,               -- null: unknown; a lot is usable through the day before
    units        double not null
);

create table if not exists ref.recalls (
    recall_number          varchar not null,
    classification         varchar,
    status                 varchar,
    reason_for_recall      varchar,
    product_description    varchar,
    code_info              varchar,
    recall_initiation_date date,
    report_date            date,
    recalling_firm         varchar,
    package_ndcs           varchar[],   -- 11 digits
    product_ndcs           varchar[],   -- 9 digits (labeler + product)
    lots                   varchar[]
);

create table if not exists ref.shortages (
    package_ndc          varchar,       -- 11 digits
    product_ndcs         varchar[],     -- 9 digits
    generic_name         varchar,
    status               varchar,
    availability         varchar,
    therapeutic_category varchar[],
    shortage_reason      varchar,
    update_date          date
);

create table if not exists ref.stockouts (
    location_id varchar not null,
    drug_id     varchar not null,
    start_date  date not null,   -- first day out of stock
    end_date    date not null    -- last day out of stock (inclusive)
);

create table if not exists ref.closures (
    closed_on   date not null,
    location_id varchar          -- null: every location
);

create table if not exists ref.signals (
    name         varchar not null,   -- as configured, e.g. ilinet
    period_start date not null,      -- ISO week start (Monday)
    value        double not null
);

create table if not exists marts.runs (
    run_id       varchar primary key,
    as_of        date not null,
    period       varchar not null,
    started_at   timestamp not null,
    finished_at  timestamp,
    status       varchar not null,
    settings     json,
    n_series     bigint,
    outputs      varchar[],
    summary      json
);

create table if not exists marts.forecast (
    run_id       varchar not null,
    location_id  varchar not null,
    drug_id      varchar not null,
    period_start date not null,
    mean         double not null,
    q50 double not null, q80 double not null, q90 double not null, q95 double not null, q99 double not null,
    model        varchar not null
);

create table if not exists marts.protection_demand (
    run_id                    varchar not null,
    location_id               varchar not null,
    drug_id                   varchar not null,
    model                     varchar not null,
    basis                     varchar not null,   -- why that model, in words
    history_periods           integer not null,
    calibrated_level          double not null,    -- path quantile level that met the service level in backtests
    service_level             double not null,
    lead_time_days            integer not null,
    review_period_days        integer not null,
    lead_time_demand_mean     double not null,
    lead_time_demand_units    double not null,   -- service-level quantile of demand over the lead time
    protection_demand_mean    double not null,
    protection_demand_units   double not null,   -- service-level quantile over lead time + review period
    forecast_next_4_units     double not null,
    actual_last_4_units       double
);

create table if not exists marts.par_levels (
    run_id               varchar not null,
    location_id          varchar not null,
    drug_id              varchar not null,
    drug_name            varchar,
    reorder_point_units  double not null,
    par_level_units      double not null,
    on_hand_units        double not null,
    on_order_units       double not null,
    order_units          double not null,
    order_packs          bigint not null,
    pack_size_units      double not null,
    service_level        double not null,
    lead_time_days       integer not null,
    review_period_days   integer not null,
    forecast_units_next_4_periods double not null,
    history_periods      integer not null,
    demand_class         varchar,
    lifecycle            varchar,
    seasonality_strength double,
    model                varchar not null,
    reason               varchar not null,   -- in words for purchasing
    forecast_basis       varchar,            -- the model, its backtest and the quantile read
    binding_constraint   varchar,
    criticality          varchar,
    abc_class            varchar,
    usable_on_hand_units double,
    quarantined_units    double,
    expired_units        double,
    projected_waste_units double,
    expiry_cap_units     double,
    in_shortage          boolean,
    annual_usage_units   double,
    unit_cost            double,
    turns_at_par         double,
    days_on_hand_at_par  double,
    turns_current        double,
    days_on_hand_current double,
    slow_mover           boolean,
    overstock            boolean,
    transfer_in_units    double,   -- units coming by transfer (counted as on order; marts.transfers)
    transfer_out_units   double    -- units to send by transfer (out of the position)
);

create table if not exists marts.par_calendar (
    run_id                  varchar not null,
    location_id             varchar not null,
    drug_id                 varchar not null,
    week_start              date not null,     -- the review day (a Monday for weekly runs)
    demand_mean_units       double not null,   -- expected demand in that week
    lead_time_demand_units  double not null,   -- service-level quantile over L from that day
    protection_demand_units double not null,   -- service-level quantile over L + R from that day
    reorder_point_units     double,
    par_level_units         double
);

create table if not exists marts.lots (
    run_id              varchar not null,
    location_id         varchar not null,
    drug_id             varchar not null,
    lot                 varchar,
    expiry_date         date,
    units               double not null,
    status              varchar not null,  -- usable / expired / quarantined
    projected_used_units  double,
    projected_waste_units double,
    projected_waste_value double,
    action              varchar,
    transferred_units   double,            -- units suggested for transfer to another location (marts.transfers)
    waste_after_transfer_units double,     -- projected waste left after the transfer
    transferred_to      varchar
);

-- Stock that would expire unused at one location, moved to one expected to use it first (turnover.transfers).
create table if not exists marts.transfers (
    run_id              varchar not null,
    from_location_id    varchar not null,
    to_location_id      varchar not null,
    drug_id             varchar not null,
    lot                 varchar,
    expiry_date         date not null,
    units               double not null,
    unit_cost           double,
    value_saved         double,            -- units x unit cost; null without a cost
    lot_waste_units     double not null,   -- the lot's projected waste at the sender, before any transfer
    receiver_need_units double not null,   -- the receiver's use before expiry beyond its own stock, when chosen
    reason              varchar not null
);

create table if not exists marts.quarantine (
    run_id            varchar not null,
    location_id       varchar not null,
    drug_id           varchar not null,
    lot               varchar,
    expiry_date       date,
    units             double not null,
    recall_number     varchar not null,
    classification    varchar,
    status            varchar,
    reason_for_recall varchar,
    matched_by        varchar not null
);

-- Append-only: every recall match, when it was flagged and by which run (compliance evidence).
create table if not exists marts.recall_audit (
    flagged_at        timestamp not null,
    run_id            varchar not null,
    as_of             date not null,
    location_id       varchar not null,
    drug_id           varchar not null,
    lot               varchar,
    units             double not null,
    recall_number     varchar not null,
    classification    varchar,
    status            varchar,
    reason_for_recall varchar,
    matched_by        varchar not null
);

create table if not exists marts.shortages (
    run_id             varchar not null,
    location_id        varchar not null,
    drug_id            varchar not null,
    drug_name          varchar,
    shortage_status    varchar,
    shortage_generic_name varchar,
    availability       varchar,
    usable_on_hand_units double,
    lead_time_days     integer,
    service_level      double,
    alternatives       varchar
);

create table if not exists marts.demand_class (
    run_id                  varchar not null,
    location_id             varchar not null,
    drug_id                 varchar not null,
    adi                     double,
    cv2                     double,
    demand_class            varchar not null,   -- smooth / erratic / intermittent / lumpy / none
    seasonality_strength    double,
    lifecycle               varchar not null,   -- new / recurring / sporadic / dead
    nonzero_share_last_year double not null,
    censored_periods        integer             -- periods filled in: stockout, closure, or flagged zero run
);

create table if not exists marts.backtest_scores (
    run_id          varchar not null,
    location_id     varchar not null,
    drug_id         varchar not null,
    model           varchar not null,
    train_periods   integer not null,   -- the fold's cutoff: periods of history it trained on
    mase            double not null,
    scaled_pinball  double not null,    -- at the run's service level
    coverage_q95    double not null,    -- share of the fold's periods at or below the raw q95
    chosen          boolean not null
);

create table if not exists marts.calibration (
    run_id              varchar not null,
    scope               varchar,            -- near: first periods (par levels); all: every horizon (forecast CSV)
    model               varchar not null,
    target_level        double not null,
    calibrated_level    double not null,
    n_pits              bigint not null,
    coverage_raw        double not null,
    coverage_calibrated double not null   -- out of fold
);

-- Columns added after the first release: warehouses created before them gain them here.
alter table raw.loaded_files add column if not exists file_id integer;  -- numbered by warehouse.migrate (version 2)
alter table marts.protection_demand add column if not exists calibrated_level double;
alter table marts.par_levels add column if not exists demand_class varchar;
alter table marts.par_levels add column if not exists lifecycle varchar;
alter table marts.par_levels add column if not exists seasonality_strength double;
alter table marts.demand_class add column if not exists censored_periods integer;
alter table marts.calibration add column if not exists scope varchar;
alter table marts.runs add column if not exists summary json;
alter table marts.par_levels add column if not exists binding_constraint varchar;
alter table marts.par_levels add column if not exists criticality varchar;
alter table marts.par_levels add column if not exists abc_class varchar;
alter table marts.par_levels add column if not exists usable_on_hand_units double;
alter table marts.par_levels add column if not exists quarantined_units double;
alter table marts.par_levels add column if not exists expired_units double;
alter table marts.par_levels add column if not exists projected_waste_units double;
alter table marts.par_levels add column if not exists expiry_cap_units double;
alter table marts.par_levels add column if not exists in_shortage boolean;
alter table marts.par_levels add column if not exists annual_usage_units double;
alter table marts.par_levels add column if not exists unit_cost double;
alter table marts.par_levels add column if not exists turns_at_par double;
alter table marts.par_levels add column if not exists days_on_hand_at_par double;
alter table marts.par_levels add column if not exists turns_current double;
alter table marts.par_levels add column if not exists days_on_hand_current double;
alter table marts.par_levels add column if not exists slow_mover boolean;
alter table marts.par_levels add column if not exists overstock boolean;
alter table marts.par_levels add column if not exists forecast_basis varchar;

-- Run history (issue 5): what each run saw, did and wrote.
alter table marts.runs add column if not exists package_version varchar;
alter table marts.runs add column if not exists parameters json;     -- the flow's parameters
alter table marts.runs add column if not exists inputs json;         -- [{kind, path, sha256, rows_read, ...}]
alter table marts.runs add column if not exists rows_read bigint;    -- dispensing rows this run read ...
alter table marts.runs add column if not exists rows_loaded bigint;  -- ... loaded ...
alter table marts.runs add column if not exists rows_rejected bigint; -- ... and rejected (read = loaded + rejected)
alter table marts.runs add column if not exists step_seconds json;   -- {step: wall seconds}
alter table marts.runs add column if not exists models json;         -- {model: series that chose it}
alter table marts.runs add column if not exists scored json;         -- forecast vs actual: {forecast_runs, periods, drift_flags}
alter table ref.shortages add column if not exists initial_posting_date date;  -- FDA's first posting: applies from it

-- Transfers before expiry (issue 14).
alter table marts.lots add column if not exists transferred_units double;
alter table marts.lots add column if not exists waste_after_transfer_units double;
alter table marts.lots add column if not exists transferred_to varchar;
alter table marts.par_levels add column if not exists transfer_in_units double;
alter table marts.par_levels add column if not exists transfer_out_units double;

-- A fill-rate target (issue 14): each drug's level chosen at the least stock value (turnover.allocation).
alter table marts.protection_demand add column if not exists expected_fill_rate double;  -- at the chosen level
alter table marts.protection_demand add column if not exists service_basis varchar;      -- why that level
alter table marts.par_levels add column if not exists expected_fill_rate double;
-- The par's own distribution in backtests: pinball loss at the service level of demand over L + R (issue 14).
alter table marts.backtest_scores add column if not exists window_pinball double;

-- Peak-season sanity (issue 14): what a par is compared with (turnover.forecasting.peaks, turnover.inventory.peak_cap).
alter table marts.protection_demand add column if not exists peak_lead_units double;        -- most demand seen over L days
alter table marts.protection_demand add column if not exists peak_protection_units double;  -- ... over L + R days
alter table marts.protection_demand add column if not exists peak_backing varchar;          -- what backs a par beyond the rule

-- Forecast vs actual: an earlier run's forecast period, scored once it is dispensed. Rescored (replaced
-- per forecast run) while its periods complete, so re-sent dispensing is reflected.
create table if not exists marts.forecast_accuracy (
    forecast_run_id   varchar not null,
    forecast_as_of    date not null,
    location_id       varchar not null,
    drug_id           varchar not null,
    period_start      date not null,
    horizon_periods   integer not null,   -- 1 = the first period after the forecast's as-of
    model             varchar,
    demand_class      varchar,
    actual_units      double not null,
    mean_units        double,
    q50_units         double,
    q80_units         double,
    q90_units         double,
    q95_units         double,
    q99_units         double,
    abs_error_units   double,
    scaled_abs_error  double,             -- |error| / in-sample MAE of the seasonal naive (as the backtest's MASE)
    scored_by_run_id  varchar not null,
    scored_at         timestamp not null
);

-- Series whose recent forecast errors drifted beyond their backtest error, per run.
create table if not exists marts.drift_flags (
    run_id          varchar not null,
    location_id     varchar not null,
    drug_id         varchar not null,
    model           varchar,
    scored_periods  integer,
    recent_mase     double,
    backtest_mase   double,
    mase_ratio      double
);

-- Each run's model per series, and the full selection it came from: a weekly run between full
-- reselections refits these (turnover.io.selection).
create table if not exists marts.model_selection (
    run_id            varchar not null,
    location_id       varchar not null,
    drug_id           varchar not null,
    model             varchar not null,
    basis             varchar,
    by_backtest       boolean not null,   -- chosen by backtest (else by rule: no, short or intermittent history)
    selected_run_id   varchar not null,   -- the run whose backtests chose it (this run, when it reselected)
    selected_as_of    date not null
);

-- Forecast-vs-actual scores past [retention] scores_days, compacted (turnover.io.retention): the sums and counts
-- that MASE, bias and coverage are made of, per forecast run x period x model x demand class x horizon.
create table if not exists marts.accuracy_summary (
    forecast_run_id      varchar not null,
    forecast_as_of       date not null,
    period_start         date not null,
    model                varchar,
    demand_class         varchar,
    horizon_periods      integer not null,
    scored_periods       bigint not null,
    sum_scaled_abs_error double,
    sum_abs_error_units  double,
    sum_actual_units     double,
    sum_mean_units       double,
    covered_q50 bigint, covered_q80 bigint, covered_q90 bigint, covered_q95 bigint, covered_q99 bigint
);

-- The warehouse file's size when retention last rewrote it without its free space (turnover.io.retention): the
-- next rewrite comes once the file has grown by [retention] compact_growth since. bytes_before is null for the
-- size first recorded (no rewrite).
create table if not exists main.warehouse_file (
    recorded_at timestamp not null,
    bytes_before bigint,
    bytes_after bigint not null
);
