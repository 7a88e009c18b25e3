"""A seeded synthetic pharmacy: the demo, the tests' fixtures, and (scaled) the benchmark's input.

Three stores, 45 drugs, daily dispensing over three and a half years, exported the way pharmacy
systems export it: one store as a canonical CSV with timestamps, one as Parquet, one in a
pharmacy-system layout ("rxsys") with US dates, 10-digit NDCs and patient columns that the ingest
must never store. The realism the pipeline is tested against:

- oseltamivir follows a flu signal whose peak moves by weeks and whose size varies about 3x
  between seasons; winter respiratory drugs follow it weakly;
- antihistamines peak in spring (mid-April to early May);
- chronic drugs are steady; slow movers are intermittent; one drug started six months before the
  end, one was discontinued over a year before;
- stores are closed on public holidays, quieter on Saturdays, one is closed on Sundays;
- one stockout (amoxicillin suspension at STORE-02), and returns to stock (negative quantities);
- stock on hand by lot with expiry dates: one lot already expired, one far more than can be used
  before it expires, a short-dated slow mover (latanoprost, 21 days of shelf life at receipt, out of
  stock), and a lot of metoprolol succinate ER 50 mg under a real FDA recall;
- FDA records in the openFDA forms: recall D-0355-2026 (Teva metoprolol succinate ER 50 mg, NDC
  45963-676-11, Class II, failed dissolution; real, CC0, except ``code_info``, which the fixture
  lacks and which names two synthetic lot numbers here) and two real shortage records from the
  openFDA snapshot of 2025-11-19 (albuterol inhalation solution, Current; Tamiflu capsules, To Be
  Discontinued, an NDC the demo does not stock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.io.warehouse import normalize_ndc

LOCATIONS = {"STORE-01": 1.0, "STORE-02": 0.7, "STORE-03": 0.5}
# Amoxicillin suspension is out of stock at STORE-02 for three weeks, about a year before the end
# (the 2022-23 US amoxicillin shortage is the real-world pattern); as day indices from the end.
STOCKOUT_DAYS_BEFORE_END = (-330, -309)
# Monday .. Sunday; STORE-01 is closed on Sundays.
WEEKDAY_FACTOR = np.array([1.2, 1.1, 1.05, 1.05, 1.1, 0.55, 0.3])


@dataclass(frozen=True)
class DrugSpec:
    """One catalog drug and how it is dispensed."""

    ndc10: str  # labelled 10-digit NDC (4-4-2, 5-3-2 or 5-4-1)
    name: str
    generic: str
    atc: str
    pattern: str  # steady | flu | spring | winter | slow | new | discontinued
    fills_per_day: float  # at STORE-01 outside any season
    quantities: tuple[float, ...]
    pack_size_units: float
    unit_cost: float
    lead_time_days: int
    shelf_life_days: int
    criticality: str
    quantity_probs: tuple[float, ...] = field(default=())


def _d(ndc, name, generic, atc, pattern, rate, qty, pack, cost, lead, shelf, crit, probs=()):
    return DrugSpec(ndc, name, generic, atc, pattern, rate, qty, pack, cost, lead, shelf, crit, probs)


DRUGS: tuple[DrugSpec, ...] = (
    _d("0781-2061-01", "Oseltamivir 75 mg capsule", "oseltamivir", "J05AH02", "flu", 0.25, (10,), 10, 3.20, 2, 1825, "vital"),
    _d("65862-102-99", "Amoxicillin 400 mg/5 mL suspension", "amoxicillin", "J01CA04", "winter", 1.2, (100, 150), 100, 0.04, 2, 730, "essential", (0.6, 0.4)),
    _d("68180-0150-1", "Azithromycin 250 mg tablet", "azithromycin", "J01FA10", "winter", 1.0, (6,), 30, 0.45, 2, 1095, "essential"),
    _d("0093-3106-05", "Benzonatate 100 mg capsule", "benzonatate", "R05DB01", "winter", 0.8, (20, 30), 100, 0.10, 2, 1095, "non-essential"),
    _d("0173-0682-20", "Albuterol HFA 90 mcg inhaler", "salbutamol", "R03AC02", "winter", 1.5, (1, 2), 1, 24.0, 2, 730, "vital", (0.8, 0.2)),
    _d("45802-919-78", "Cetirizine 10 mg tablet", "cetirizine", "R06AE07", "spring", 1.0, (30, 90), 100, 0.05, 2, 1095, "non-essential", (0.8, 0.2)),
    _d("37205-0443-1", "Loratadine 10 mg tablet", "loratadine", "R06AX13", "spring", 0.8, (30,), 100, 0.05, 2, 1095, "non-essential"),
    _d("0054-3270-99", "Fluticasone 50 mcg nasal spray", "fluticasone", "R01AD08", "spring", 0.9, (1,), 1, 9.50, 2, 730, "non-essential"),
    _d("0006-0117-31", "Montelukast 10 mg tablet", "montelukast", "R03DC03", "spring_mild", 2.0, (30, 90), 90, 0.12, 2, 1095, "essential", (0.7, 0.3)),
    _d("60505-257-80", "Atorvastatin 20 mg tablet", "atorvastatin", "C10AA05", "steady", 6.0, (30, 90), 90, 0.05, 2, 1095, "essential", (0.6, 0.4)),
    _d("0093-1048-01", "Metformin 500 mg tablet", "metformin", "A10BA02", "steady", 6.0, (60, 180), 500, 0.03, 2, 1095, "essential", (0.6, 0.4)),
    _d("68180-0513-9", "Lisinopril 10 mg tablet", "lisinopril", "C09AA03", "steady", 5.0, (30, 90), 90, 0.03, 2, 1095, "essential", (0.6, 0.4)),
    _d("0093-7167-56", "Amlodipine 5 mg tablet", "amlodipine", "C08CA01", "steady", 5.0, (30, 90), 90, 0.03, 2, 1095, "essential", (0.6, 0.4)),
    _d("00378-180-77", "Levothyroxine 50 mcg tablet", "levothyroxine", "H03AA01", "steady", 5.0, (30, 90), 90, 0.10, 2, 730, "essential", (0.6, 0.4)),
    _d("62175-0136-3", "Omeprazole 20 mg capsule", "omeprazole", "A02BC01", "steady", 4.0, (30, 90), 100, 0.08, 2, 1095, "essential", (0.6, 0.4)),
    _d("0781-5701-92", "Losartan 50 mg tablet", "losartan", "C09CA01", "steady", 4.0, (30, 90), 90, 0.06, 2, 1095, "essential", (0.6, 0.4)),
    _d("16714-683-02", "Simvastatin 20 mg tablet", "simvastatin", "C10AA01", "steady", 3.0, (30, 90), 90, 0.04, 2, 1095, "essential", (0.6, 0.4)),
    _d("45963-676-11", "Metoprolol succinate ER 50 mg tablet", "metoprolol", "C07AB02", "steady", 3.0, (30, 90), 100, 0.10, 2, 1095, "essential", (0.6, 0.4)),
    _d("0093-0171-01", "Sertraline 50 mg tablet", "sertraline", "N06AB06", "steady", 3.0, (30,), 100, 0.06, 2, 1095, "essential"),
    _d("69097-843-05", "Escitalopram 10 mg tablet", "escitalopram", "N06AB10", "steady", 2.5, (30,), 100, 0.07, 2, 1095, "essential"),
    _d("59762-0502-2", "Gabapentin 300 mg capsule", "gabapentin", "N03AX12", "steady", 3.0, (90, 270), 500, 0.05, 2, 1095, "essential", (0.7, 0.3)),
    _d("16729-182-01", "Hydrochlorothiazide 25 mg tablet", "hydrochlorothiazide", "C03AA03", "steady", 3.0, (30, 90), 1000, 0.02, 2, 1095, "essential", (0.6, 0.4)),
    _d("0591-5544-01", "Rosuvastatin 10 mg tablet", "rosuvastatin", "C10AA07", "steady", 2.0, (30, 90), 90, 0.08, 2, 1095, "essential", (0.6, 0.4)),
    _d("31722-713-90", "Pantoprazole 40 mg tablet", "pantoprazole", "A02BC02", "steady", 2.0, (30, 90), 90, 0.06, 2, 1095, "essential", (0.6, 0.4)),
    _d("0054-8299-25", "Furosemide 20 mg tablet", "furosemide", "C03CA01", "steady", 2.0, (30, 60), 100, 0.03, 2, 1095, "essential"),
    _d("65862-593-01", "Tamsulosin 0.4 mg capsule", "tamsulosin", "G04CA02", "steady", 2.0, (30, 90), 100, 0.07, 2, 1095, "essential", (0.6, 0.4)),
    _d("60505-2653-1", "Trazodone 50 mg tablet", "trazodone", "N06AX05", "steady", 2.0, (30,), 100, 0.05, 2, 1095, "essential"),
    _d("0054-4728-25", "Prednisone 10 mg tablet", "prednisone", "H02AB07", "winter_mild", 1.5, (10, 21), 100, 0.05, 2, 1095, "essential"),
    _d("0003-0894-21", "Apixaban 5 mg tablet", "apixaban", "B01AF02", "steady", 1.5, (60, 180), 60, 7.50, 3, 1095, "vital", (0.7, 0.3)),
    _d("0088-2220-33", "Insulin glargine 100 units/mL pen (3 mL)", "insulin glargine", "A10AE04", "steady", 0.8, (15,), 15, 8.00, 2, 730, "vital"),
    _d("0378-4150-01", "Clopidogrel 75 mg tablet", "clopidogrel", "B01AC04", "steady", 1.2, (30, 90), 90, 0.10, 2, 1095, "essential", (0.6, 0.4)),
    _d("0093-1714-01", "Warfarin 5 mg tablet", "warfarin", "B01AA03", "steady", 0.8, (30,), 100, 0.09, 2, 1095, "vital"),
    _d("49502-102-02", "Epinephrine 0.3 mg auto-injector", "epinephrine", "C01CA24", "slow", 0.07, (2,), 2, 150.0, 3, 540, "vital"),
    _d("69547-353-02", "Naloxone 4 mg nasal spray", "naloxone", "V03AB15", "slow", 0.06, (2,), 2, 45.0, 2, 730, "vital"),
    _d("59762-3304-1", "Nitroglycerin 0.4 mg sublingual tablet", "nitroglycerin", "C01DA02", "slow", 0.08, (25,), 25, 0.80, 2, 730, "vital"),
    _d("0002-8031-01", "Glucagon 1 mg emergency kit", "glucagon", "H04AA01", "slow", 0.03, (1,), 1, 280.0, 3, 730, "vital"),
    _d("0143-3196-01", "Colchicine 0.6 mg tablet", "colchicine", "M04AC01", "slow", 0.15, (30,), 30, 1.10, 3, 1095, "essential"),
    _d("63304-296-01", "Hydroxychloroquine 200 mg tablet", "hydroxychloroquine", "P01BA02", "slow", 0.2, (60,), 100, 0.30, 3, 1095, "essential"),
    _d("0054-4550-25", "Methotrexate 2.5 mg tablet", "methotrexate", "L04AX03", "slow", 0.1, (12, 24), 100, 0.90, 3, 1095, "essential"),
    _d("0054-4527-25", "Lithium carbonate 300 mg capsule", "lithium", "N05AN01", "slow", 0.12, (90,), 100, 0.15, 3, 1095, "essential"),
    _d("65162-0661-1", "Ondansetron 4 mg ODT", "ondansetron", "A04AA01", "slow", 0.35, (10, 30), 30, 0.25, 2, 1095, "essential"),
    _d("0143-9803-50", "Doxycycline hyclate 100 mg capsule", "doxycycline", "J01AA02", "slow", 0.4, (14, 20), 50, 0.40, 2, 1095, "essential"),
    _d("0169-4132-12", "Semaglutide 1 mg/dose pen", "semaglutide", "A10BJ06", "new", 1.0, (1,), 1, 900.0, 2, 730, "essential"),
    _d("0173-0344-42", "Ranitidine 150 mg tablet", "ranitidine", "A02BA02", "discontinued", 2.0, (30, 60), 100, 0.06, 2, 1095, "non-essential"),
    _d("0093-5851-01", "Valacyclovir 1 g tablet", "valacyclovir", "J05AB11", "slow", 0.3, (21, 30), 30, 0.90, 2, 1095, "essential"),
    _d("0487-9901-30", "Albuterol 2.5 mg/0.5 mL inhalation solution", "salbutamol", "R03AC02", "winter", 0.5, (25, 50), 25, 0.40, 2, 730, "essential", (0.7, 0.3)),
    _d("24208-463-25", "Latanoprost 0.005% eye drops 2.5 mL (short-dated supply)", "latanoprost", "S01EE01", "slow", 0.12, (1,), 1, 12.0, 3, 21, "essential"),
)

# The recall the demo stocks (openFDA drug/enforcement fields; code_info synthetic, see above).
RECALLED_LOT, UNRECALLED_LOT = "3502407A", "3502411C"
DEMO_RECALLS = (
    {
        "recall_number": "D-0355-2026", "classification": "Class II", "status": "Ongoing",
        "product_type": "Drugs", "recalling_firm": "Teva Pharmaceuticals USA, Inc",
        "reason_for_recall": "Failed Dissolution Specifications",
        "product_description": "Metoprolol Succinate Extended-Release Tablets, 50 mg, 100 tablets bottles "
                               "(NDC: 45963-676-11) and 1,000 tablets bottles (NDC: 45963-676-96),",
        "code_info": f"Lot #: {RECALLED_LOT}, Exp. 07/2027; Lot #: 3502409B, Exp. 09/2027",
        "recall_initiation_date": "20260129", "report_date": "20260311",
        "openfda": {"package_ndc": ["45963-676-11", "45963-676-96"], "product_ndc": ["45963-676"]},
    },
)
# Real openFDA drug/shortages records (snapshot 2025-11-19), trimmed to the fields the pipeline reads.
DEMO_SHORTAGES = (
    {
        "package_ndc": "0487-9901-30", "generic_name": "Albuterol Sulfate Solution", "status": "Current",
        "availability": "", "therapeutic_category": ["Pulmonary/Allergy", "Pediatric"],
        "shortage_reason": "", "update_date": "10/24/2025",
        "related_info": "Albuterol 0.5% is in stock, though demand remains high; additional supply can be produced "
                        "as needed.",
        "company_name": "Nephron Pharmaceuticals Corporation", "openfda": {"product_ndc": ["0487-9901"]},
    },
    {
        "package_ndc": "0004-0801-85", "generic_name": "Oseltamivir Phosphate Capsule", "status": "To Be Discontinued",
        "availability": "", "therapeutic_category": ["Antiviral"], "shortage_reason": "", "update_date": "",
        "company_name": "Genentech, Inc.", "openfda": {"product_ndc": ["0004-0801"]},
    },
)


@dataclass(frozen=True)
class Pharmacy:
    """A generated pharmacy: dispensing rows (canonical columns plus what exports also carry),
    the catalog, the on-hand snapshot, and the flu signal that drove oseltamivir."""

    dispensing: pd.DataFrame
    catalog: pd.DataFrame
    on_hand: pd.DataFrame  # by lot: location_id, drug_id, lot, expiry_date, units, on_order_units
    stockouts: pd.DataFrame  # location_id, drug_id, start, end (inclusive)
    closures: pd.DataFrame  # date, location_id (blank: every store)
    flu_signal: pd.Series
    end: date


def holidays(years: range) -> set[date]:
    """US pharmacy closures: New Year, Independence Day, Thanksgiving (4th Thursday of Nov), Christmas."""
    out = set()
    for y in years:
        november = date(y, 11, 1)
        thanksgiving = november + timedelta(days=(3 - november.weekday()) % 7 + 21)
        out |= {date(y, 1, 1), date(y, 7, 4), thanksgiving, date(y, 12, 25)}
    return out


def flu_signal(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Weekly-scale flu activity, 0 = none: one bump per season, peak between late November and
    mid-February (timing varies by weeks), size varying about 3x between seasons (cf. CDC ILINet)."""
    signal = np.zeros(len(days))
    day_number = (days - days[0]).days.to_numpy()
    for year in range(days[0].year - 1, days[-1].year + 1):
        peak = pd.Timestamp(year, 12, 31) + pd.Timedelta(days=float(rng.uniform(-35, 45)))
        width = rng.uniform(16, 28)
        size = rng.uniform(0.55, 1.6)
        centre = (peak - days[0]).days
        signal += size * np.exp(-0.5 * ((day_number - centre) / width) ** 2)
    return signal


def spring_signal(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Pollen season: a bump centred on day-of-year ~115 (late April), shifting a little by year."""
    years = days.year.to_numpy() - days[0].year
    doy = days.dayofyear.to_numpy() - rng.normal(0, 7, years.max() + 1)[years]
    return np.exp(-0.5 * ((doy - 115) / 22) ** 2)


#: Seasonal patterns: demand multiplier = base + gain x signal ("flu" or "spring"); other patterns 1.
SEASON_SHAPES = {"flu": (0.6, 14.0, "flu"), "winter": (1.0, 1.3, "flu"), "winter_mild": (1.0, 0.4, "flu"),
                 "spring": (1.0, 2.6, "spring"), "spring_mild": (1.0, 0.3, "spring")}


def seasonality(pattern: str, flu: np.ndarray, spring: np.ndarray) -> np.ndarray:
    """The pattern's daily demand multiplier (``SEASON_SHAPES``)."""
    if pattern not in SEASON_SHAPES:
        return np.ones_like(flu)
    base, gain, signal = SEASON_SHAPES[pattern]
    return base + gain * (flu if signal == "flu" else spring)


def _lifecycle(pattern: str, day_index: np.ndarray) -> np.ndarray:
    """Multiplier for a drug's life: the new drug starts 182 days before the end and ramps up over
    8 weeks; the discontinued one stops 400 days before the end."""
    n = len(day_index)
    if pattern == "new":
        since = day_index - (n - 182)
        return np.clip(since / 56, 0, 1) * (since >= 0)
    if pattern == "discontinued":
        return (day_index < n - 400).astype(float)
    return np.ones(n)


def generate_pharmacy(end: date, seed: int = 7, years: float = 3.5) -> Pharmacy:
    """Daily dispensing for three stores and the catalog, ending on ``end`` (inclusive)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=pd.Timestamp(end), periods=int(round(years * 365.25)), freq="D")
    day_index = np.arange(len(days))
    closed = np.isin(days.date, list(holidays(range(days[0].year, days[-1].year + 1))))
    flu, spring = flu_signal(days, rng), spring_signal(days, rng)
    drug_ids = normalize_ndc([d.ndc10 for d in DRUGS])
    frames = []
    for location, scale in LOCATIONS.items():
        weekday = WEEKDAY_FACTOR[days.weekday]
        if location == "STORE-01":
            weekday = np.where(days.weekday == 6, 0.0, weekday)
        for drug, drug_id in zip(DRUGS, drug_ids, strict=True):
            rate = drug.fills_per_day * scale * weekday * seasonality(drug.pattern, flu, spring)
            rate = rate * _lifecycle(drug.pattern, day_index) * ~closed
            if location == "STORE-02" and drug.generic == "amoxicillin":
                rate[STOCKOUT_DAYS_BEFORE_END[0] : STOCKOUT_DAYS_BEFORE_END[1]] = 0.0
            fills = rng.poisson(rate)
            n = int(fills.sum())
            when = np.repeat(days.to_numpy(), fills) + rng.integers(9 * 60, 19 * 60, n).astype("timedelta64[m]")
            probs = np.array(drug.quantity_probs or [1 / len(drug.quantities)] * len(drug.quantities))
            quantity = rng.choice(np.array(drug.quantities, dtype=float), size=n, p=probs / probs.sum())
            frames.append(pd.DataFrame({"dispensed_at": when, "location_id": location, "drug_id": drug_id,
                                        "quantity": quantity, "drug_name": drug.name}))
    fills = pd.concat(frames, ignore_index=True)
    fills = pd.concat([fills, _returns(fills, rng, days[-1])], ignore_index=True)
    fills = fills.sort_values(["dispensed_at", "location_id", "drug_id"], kind="stable").reset_index(drop=True)
    fills["rx_number"] = [f"RX{n:08d}" for n in rng.permutation(len(fills))]
    fills["patient_id"] = [f"P{n:07d}" for n in rng.integers(0, 5_000_000, len(fills))]
    amoxicillin = drug_ids[[d.generic for d in DRUGS].index("amoxicillin")]
    first, last = days[STOCKOUT_DAYS_BEFORE_END[0]], days[STOCKOUT_DAYS_BEFORE_END[1] - 1]
    stockouts = pd.DataFrame({"location_id": ["STORE-02"], "drug_id": [amoxicillin],
                              "start": [first.date()], "end": [last.date()]})
    closures = pd.DataFrame({"date": sorted(d for d in days.date[closed]), "location_id": ""})
    return Pharmacy(fills, _catalog(drug_ids), _lots(_on_hand(fills, rng), rng, days[-1].date(), drug_ids), stockouts, closures,
                    pd.Series(flu, index=days, name="flu"), end)


def _returns(fills: pd.DataFrame, rng: np.random.Generator, last_day: pd.Timestamp) -> pd.DataFrame:
    """About 1.5% of fills are never picked up and return to stock 5-12 days later (negative units)."""
    picked = fills.sample(frac=0.015, random_state=int(rng.integers(2**31)))
    back = picked.assign(
        dispensed_at=picked["dispensed_at"] + pd.to_timedelta(rng.integers(5, 13, len(picked)), unit="D"),
        quantity=-picked["quantity"],
    )
    return back[back["dispensed_at"] <= last_day + pd.Timedelta(days=1)]


def _catalog(drug_ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "drug_id": drug_ids,
        "drug_name": [d.name for d in DRUGS],
        "pack_size_units": [d.pack_size_units for d in DRUGS],
        "unit_cost": [d.unit_cost for d in DRUGS],
        "lead_time_days": [d.lead_time_days for d in DRUGS],
        "shelf_life_days": [d.shelf_life_days for d in DRUGS],
        "criticality": [d.criticality for d in DRUGS],
        "generic_name": [d.generic for d in DRUGS],
        "atc_code": [d.atc for d in DRUGS],
    })


#: Stock at a count: weeks of recent use held, share of series with an order in transit and its weeks of use,
#: the first lot's share when stock is split in two, a lot's expiry as a share of shelf life after the count
#: (the second lot that much later). The chain generator (``turnover.demo.chain``) counts its stock the same way.
STOCK_WEEKS, IN_TRANSIT_SHARE, IN_TRANSIT_WEEKS = (0.3, 1.6), 0.15, 0.5
FIRST_LOT_SHARE, EXPIRY_SHELF_SHARE, SECOND_LOT_LATER = (0.3, 0.7), (0.35, 0.6), 0.3


def _on_hand(fills: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Stock at the end: between 0.3 and 1.6 weeks of recent use, a few orders in transit."""
    last = fills["dispensed_at"].max()
    recent = fills[fills["dispensed_at"] > last - pd.Timedelta(weeks=8)]
    weekly = recent.groupby(["location_id", "drug_id"])["quantity"].sum().clip(lower=0) / 8
    keys = pd.MultiIndex.from_product([list(LOCATIONS), sorted(fills["drug_id"].unique())], names=["location_id", "drug_id"])
    weekly = weekly.reindex(keys, fill_value=0.0)
    on_hand = np.round(weekly.to_numpy() * rng.uniform(*STOCK_WEEKS, len(weekly)))
    on_order = np.where(rng.random(len(weekly)) < IN_TRANSIT_SHARE, np.round(weekly.to_numpy() * IN_TRANSIT_WEEKS), 0.0)
    return pd.DataFrame({"location_id": keys.get_level_values(0), "drug_id": keys.get_level_values(1),
                         "on_hand_units": on_hand, "on_order_units": on_order})


def _lots(on_hand: pd.DataFrame, rng: np.random.Generator, end: date, drug_ids: list[str]) -> pd.DataFrame:
    """Stock split into one or two lots with expiry dates, plus the demo's expiry and recall cases."""
    shelf = dict(zip(drug_ids, [d.shelf_life_days for d in DRUGS], strict=True))
    generic = dict(zip(drug_ids, [d.generic for d in DRUGS], strict=True))
    drug_of = {g: drug for drug, g in generic.items()}
    rows = []
    for r in on_hand.itertuples(index=False):
        units, drug = float(r.on_hand_units), r.drug_id
        if generic[drug] == "latanoprost":
            units = 0.0  # short-dated slow mover, out of stock: its order is capped by expiry
        first = round(units * rng.uniform(*FIRST_LOT_SHARE)) if units >= 2 and rng.random() < 0.5 else units
        parts = [first, units - first] if first < units else [units]
        for k, part in enumerate(parts):
            days_left = int(shelf[drug] * rng.uniform(*EXPIRY_SHELF_SHARE) + k * shelf[drug] * SECOND_LOT_LATER)
            lot = RECALLED_LOT if generic[drug] == "metoprolol" and r.location_id == "STORE-01" and k == 0 else (
                f"{generic[drug][:2].upper()}{int(rng.integers(100000, 999999))}")
            rows.append((r.location_id, drug, lot, end + timedelta(days=days_left), part,
                         r.on_order_units if k == 0 else 0.0))
        if generic[drug] == "metoprolol" and r.location_id == "STORE-01" and len(parts) == 1:
            rows.append((r.location_id, drug, UNRECALLED_LOT, end + timedelta(days=500), 100.0, 0.0))
    rows.append(("STORE-02", drug_of["naloxone"], "NX2311E", end - timedelta(days=10), 2.0, 0.0))  # expired last week
    rows.append(("STORE-03", drug_of["colchicine"], "CO2406S", end + timedelta(days=45), 120.0, 0.0))  # far more than 45 days' use
    lots = pd.DataFrame(rows, columns=["location_id", "drug_id", "lot", "expiry_date", "units", "on_order_units"])
    return lots  # a lot of 0 units is a counted zero: the drug is out of stock
