"""CASS Import test data shared by the codec tests: HOT.md's sample lines and a hypothesis
strategy of import records."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from opencass.model import ImportRecord, awb_check_digit

# The sample lines of HOT.md (a forwarder implementation's tests: filler digits, not a bill).
HEADER = "AA2JP054000004  10080110081510082301JPY"
IBI = (
    "IBI        00533186 NNJP054000004006A00670158700        MGANRTDL0619100804100805000140"
    "0KUSD0087.67000000000041560000000500000000000230000000000000000000000003000Y0000000000"
    "77440000000044000000000000  120000000021  670000000067140000000041000000000000"
)


money = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)
day = st.dates(min_value=date(2020, 1, 1), max_value=date(2079, 12, 30))


@st.composite
def import_records(draw: st.DrawFn) -> ImportRecord:
    serial7 = draw(st.from_regex(r"[0-9]{7}", fullmatch=True))
    arrived = draw(day)
    charges = {
        name: draw(money)
        for name in ("weight_charges", "charges_due_agent", "charges_due_carrier", "fee",
                     "handling_charges", "storage_charges", "other_charge_1", "other_charge_2",
                     "miscellaneous_charges")
    }  # fmt: skip
    return ImportRecord(
        draw(st.sampled_from(["IBI", "IBI", "IBO", "IBR"])),
        "DE" + draw(st.from_regex(r"[0-9]{9}", fullmatch=True)),
        draw(st.from_regex(r"[0-9]{3}", fullmatch=True)),
        serial7 + str(awb_check_digit(serial7)),
        "JFK", "FRA", draw(st.sampled_from(["", "LH401", "DE0401"])),
        arrived, arrived,
        draw(st.decimals(min_value=0, max_value=Decimal("999999.9"), places=1)),
        draw(st.sampled_from("KL")), "EUR",
        draw(st.decimals(min_value=0, max_value=Decimal("9999.99999"), places=5)),
        fee_charged=draw(st.sampled_from("YN")),
        other_charge_1_code=draw(st.sampled_from(["", "SC", "MY"])),
        other_charge_2_code="",
        **charges,
    )  # fmt: skip
