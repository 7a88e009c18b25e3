"""Column names that look like patient or prescriber identifiers: never read, whatever a mapping says.

Ingest reads only the columns a mapping names, so an export's patient columns are ignored anyway.
This is the second line: a mapping that maps a canonical column onto one of these by mistake (say
``drug_name = "Patient Name"``) has that column refused at load time. The test is on the name only,
and errs towards refusing: a refused optional column (``drug_name``, ``ndc``) is simply absent, a
refused required one stops the load with a message saying which.

A name is an identifier when, split into words (``PatientDOB`` -> patient, dob; ``rx_no`` -> rx, no):
- it names a person: patient, prescriber, physician, doctor, customer, member, cardholder ...;
- or an identifying field: date of birth / dob, MRN, SSN / social security, DEA, NPI, licence,
  address, street, zip / postal code, phone, fax, email;
- or a prescription number: rx / prescription / script followed by number, no, num, nbr, id or #,
  or the bare word ``Rx``;
- or a personal name: ``name`` alone, or first / last / middle / full / given / family / sur- name.
"""

from __future__ import annotations

import re

PERSON_WORDS = frozenset({
    "patient", "patients", "pt", "prescriber", "prescribing", "physician", "doctor", "dr", "customer", "client",
    "member", "cardholder", "subscriber", "guarantor", "caregiver", "beneficiary", "insured", "person",
})
FIELD_WORDS = frozenset({
    "dob", "birth", "birthdate", "birthday", "mrn", "ssn", "dea", "npi", "license", "licence", "address", "addr",
    "street", "zip", "zipcode", "postcode", "postal", "phone", "telephone", "tel", "mobile", "cellphone", "fax",
    "email", "passport", "surname", "forename", "firstname", "lastname", "fullname", "middlename",
})
# Distinctive words also found inside run-together names ("patientname", "rxnumber").
INNER_WORDS = (
    "patient", "prescriber", "physician", "cardholder", "dateofbirth", "birthdate", "socialsecurity", "email",
    "phone", "address", "rxnumber", "rxnum", "rxno", "prescriptionnumber", "prescriptionno", "scriptnumber",
    "firstname", "lastname", "middlename", "fullname", "surname",
)
RX_WORDS = frozenset({"rx", "prescription", "script", "scrip"})
NUMBER_WORDS = frozenset({"number", "no", "num", "nbr", "id", "#"})
NAME_QUALIFIERS = frozenset({"first", "last", "middle", "full", "given", "family", "sur", "maiden"})
WORD = re.compile(r"#|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_words(name: str) -> list[str]:
    """``name`` split into lower-case words at case changes, digits and punctuation (``#`` kept)."""
    return [w.lower() for w in WORD.findall(name)]


def looks_like_identifier(name: str) -> bool:
    """Whether a column called ``name`` may hold a patient or prescriber identifier (see the module doc)."""
    words = name_words(name)
    if not words:
        return False
    compact = "".join(w for w in words if w != "#")
    if words in (["name"], ["rx"], ["rx", "#"]) or any(inner in compact for inner in INNER_WORDS):
        return True
    if any(w in PERSON_WORDS or w in FIELD_WORDS for w in words):
        return True
    if any(a in RX_WORDS and b in NUMBER_WORDS for a, b in zip(words, words[1:], strict=False)):
        return True
    return any(a in NAME_QUALIFIERS and b == "name" for a, b in zip(words, words[1:], strict=False))
