"""The arithmetic of ordering: whole units, whole packs, the gap to par, a cap in whole packs.

Shared by the par levels (``turnover.inventory.policy``) and the single-item simulator
(``turnover.simulation.simulator``); light on purpose, so the simulator does not load the forecasting stack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Guards ceil() against float noise such as 30.000000000000004 units.
EPSILON = 1e-9


def ceil_units(units: np.ndarray | pd.Series) -> np.ndarray:
    """Round a quantity of units up to a whole unit."""
    return np.ceil(np.asarray(units, dtype=float) - EPSILON)


def round_up_to_packs(units: np.ndarray | pd.Series, pack_size_units: np.ndarray | pd.Series) -> np.ndarray:
    """Whole packs needed to supply ``units`` (0 for 0 or less)."""
    packs = np.ceil(np.asarray(units, dtype=float) / np.asarray(pack_size_units, dtype=float) - EPSILON)
    return np.clip(packs, 0, None).astype(np.int64)


def inventory_position(on_hand_units, on_order_units) -> np.ndarray:
    """On hand + on order, in units."""
    return np.asarray(on_hand_units, dtype=float) + np.asarray(on_order_units, dtype=float)


def order_up_to(par_level_units, position_units) -> np.ndarray:
    """Units to order to bring the position up to par; never negative."""
    return np.clip(np.asarray(par_level_units, dtype=float) - np.asarray(position_units, dtype=float), 0, None)


#: An empty shelf gets one pack despite the expiry cap when at least this share of it is expected to be used
#: before it expires: better a little waste than no dose at all for a short-dated drug.
EMPTY_SHELF_MIN_USE_PACKS = 0.5


def order_in_packs(needed, position, pack, cap_units, vital_floor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(packs to order, expiry cap bound, vital floor overrode the cap).

    Needed units round up to whole packs; where that is more than the expiry cap allows, the order
    is cut to the whole packs within the cap. Where that leaves an empty shelf (nothing usable on hand
    or on order) without an order, one pack is ordered if at least ``EMPTY_SHELF_MIN_USE_PACKS`` of it
    can be used before it expires. The vital floor then overrides the cap (the drug is on the shelf
    even if some of it will expire).
    """
    pack = np.asarray(pack, dtype=float)
    packs = round_up_to_packs(needed, pack)
    cap = np.asarray(cap_units, dtype=float)
    cap_packs = np.floor(cap / pack + EPSILON)
    capped = packs > cap_packs
    packs = np.where(capped, cap_packs, packs)
    empty_shelf = (np.asarray(position, dtype=float) <= EPSILON) & (packs == 0) & (
        np.asarray(needed, dtype=float) > 0) & (cap >= EMPTY_SHELF_MIN_USE_PACKS * pack)
    packs = np.where(empty_shelf, 1, packs)
    vital_packs = round_up_to_packs(order_up_to(vital_floor, position), pack)
    vital_override = vital_packs > packs
    return np.maximum(packs, vital_packs).astype(np.int64), capped, vital_override
