"""The price table in the AWS Price List bulk CSV format, as the SDK's ``braket.tracking``
reads it (``BRAKET_PRICE_OFFERS_URL``).

The format (AWS "Reading an offer file", CSV): five metadata rows, then a header row,
then one row per price. ``braket.tracking.pricing`` skips the first five lines and
searches the rest by column; ``braket.tracking.tracker`` looks up, per task region:

* QPU tasks outside a job: ``Product Family`` ``Quantum Task`` and ``Quantum Task-Shot``
  with ``DeviceName``; inside a job ``Braket Managed Jobs QPU Task`` and
  ``Braket Managed Jobs QPU Task Shot`` with ``Device Name`` (the spelling differs on
  purpose). The name is the ARN's last part with its first letter in upper case.
* simulator tasks: ``Simulator Task`` (``operation`` ``CompleteTask``) or
  ``Braket Managed Jobs Simulator Task`` (``Managed-Jobs``) with ``Version`` the upper-case
  simulator name and ``Unit`` a ``timedelta`` keyword (``minutes``).

Every search must find exactly one row, so each price appears once per region and
family. Instance prices are rows of family ``Braket Hybrid Jobs Instance`` (the Tracker
does not read them; they are there for people and tools).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from hybridjobs.usage.prices import PriceTable

COLUMNS = (
    "SKU",
    "OfferTermCode",
    "RateCode",
    "TermType",
    "PriceDescription",
    "EffectiveDate",
    "StartingRange",
    "EndingRange",
    "Unit",
    "PricePerUnit",
    "Currency",
    "Product Family",
    "serviceCode",
    "Location Type",
    "usageType",
    "operation",
    "Region Code",
    "DeviceName",
    "Device Name",
    "Version",
    "Instance Type",
    "Device ARN",
)
OFFER_CODE = "AmazonBraket"
TERM_CODE = "JRTCKXETXF"  # AWS's on-demand offer term code


def tracker_device_name(device_arn: str) -> str:
    """The name the SDK's Tracker searches a QPU's prices by."""
    name = device_arn.split("/")[-1]
    name = name[:1].upper() + name[1:]
    if "Ibex" in name:
        return name.replace("Ibex", "IBEX")
    if "2000Q" in name:
        return "2000Q"
    if "Advantage_system" in name:
        return "Advantage_system"
    return name


def _price(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _row(
    region: str,
    family: str,
    unit: str,
    price: Decimal,
    description: str,
    effective: str,
    **attributes: str,
) -> dict[str, str]:
    sku = f"{region}:{family}:{attributes.get('Device ARN') or attributes.get('Instance Type')}"
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        {
            "SKU": sku,
            "OfferTermCode": TERM_CODE,
            "RateCode": f"{sku}.{TERM_CODE}",
            "TermType": "OnDemand",
            "PriceDescription": description,
            "EffectiveDate": effective,
            "StartingRange": "0",
            "EndingRange": "Inf",
            "Unit": unit,
            "PricePerUnit": _price(price),
            "Currency": "USD",
            "Product Family": family,
            "serviceCode": OFFER_CODE,
            "Location Type": "AWS Region",
            "Region Code": region,
            **attributes,
        }
    )
    return row


def price_rows(table: PriceTable, regions: Iterable[str]) -> list[dict[str, str]]:
    """One row per price, family and region (see the module docstring)."""
    effective = f"{table.snapshot_date}T00:00:00Z"
    rows: list[dict[str, str]] = []
    for region in sorted(set(regions)):
        for arn, minute in sorted(table.simulators.items()):
            version = arn.split("/")[-1].upper()
            for family, operation in (
                ("Simulator Task", "CompleteTask"),
                ("Braket Managed Jobs Simulator Task", "Managed-Jobs"),
            ):
                rows.append(
                    _row(
                        region,
                        family,
                        "minutes",
                        minute,
                        f"${_price(minute)} per minute of {version} simulation",
                        effective,
                        operation=operation,
                        Version=version,
                        **{"Device ARN": arn, "usageType": f"{version}-minutes"},
                    )
                )
        for arn, qpu in sorted(table.qpus.items()):
            name = tracker_device_name(arn)
            for family, unit, price, name_column in (
                ("Quantum Task", "tasks", qpu.per_task, "DeviceName"),
                ("Quantum Task-Shot", "shots", qpu.per_shot, "DeviceName"),
                ("Braket Managed Jobs QPU Task", "tasks", qpu.per_task, "Device Name"),
                ("Braket Managed Jobs QPU Task Shot", "shots", qpu.per_shot, "Device Name"),
            ):
                rows.append(
                    _row(
                        region,
                        family,
                        unit,
                        price,
                        f"${_price(price)} per {unit[:-1]} on {name}",
                        effective,
                        **{name_column: name, "Device ARN": arn},
                    )
                )
        for instance_type, minute in sorted(table.instances.items()):
            rows.append(
                _row(
                    region,
                    "Braket Hybrid Jobs Instance",
                    "minutes",
                    minute,
                    f"${_price(minute)} per minute of a {instance_type} instance",
                    effective,
                    **{"Instance Type": instance_type},
                )
            )
    return rows


def render_price_list(table: PriceTable, regions: Iterable[str]) -> bytes:
    """The whole CSV offer file for ``regions``."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["FormatVersion", "v1.0"])
    writer.writerow(
        [
            "Disclaimer",
            "hybridjobs price list: the operator's prices, or a reference snapshot of AWS's "
            f"public Amazon Braket prices ({table.snapshot_date}); not an AWS offer. "
            f"{table.note}",
        ]
    )
    writer.writerow(["Publication Date", f"{table.snapshot_date}T00:00:00Z"])
    writer.writerow(["Version", table.snapshot_date])
    writer.writerow(["OfferCode", OFFER_CODE])
    dict_writer = csv.DictWriter(
        out, fieldnames=COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n"
    )
    dict_writer.writeheader()
    dict_writer.writerows(price_rows(table, regions))
    return out.getvalue().encode("utf-8")
