#!/usr/bin/env python3
"""Writes the small synthetic registries under examples/registries/.

Run once; its output is committed, so building and testing dovetail does not
need Python. Everything here is invented: names are combined at random from
short lists written for this file, identifiers use SSN area 900-999 with
group 01-49 (never issued to anyone), so no row describes a real person.

Three registries of one synthetic population, each with its own layout:
  benefits.csv  BEN_ID, FIRST_NAME, MIDDLE, LAST_NAME, DOB (MM/DD/YYYY),
                SSN (dashed), ZIP (ZIP or ZIP+4), upper case; some people
                enrolled twice (a duplicate inside the source)
  deaths.csv    death_id, decedent ("LAST, FIRST MIDDLE"), birth_date
                (YYYYMMDD), ssn (digits), date_of_death, zip
  voters.csv    voter_no, name ("First Middle Last", mixed case, accents),
                birth (YYYY-MM-DD), zip, sex; married names, nicknames
truth.csv maps every record to its person.
"""
import csv
import random
import unicodedata

rng = random.Random(20261123)

GIVEN = {
    "en": [("William", "m"), ("Robert", "m"), ("Margaret", "f"), ("Elizabeth", "f"),
           ("James", "m"), ("Katherine", "f"), ("Thomas", "m"), ("Susan", "f"),
           ("Richard", "m"), ("Patricia", "f"), ("Edward", "m"), ("Dorothy", "f")],
    "es": [("José", "m"), ("María", "f"), ("Francisco", "m"), ("Guadalupe", "f"),
           ("Jesús", "m"), ("Dolores", "f"), ("Ignacio", "m"), ("Concepción", "f"),
           ("Manuel", "m"), ("Lucía", "f")],
    "vi": [("Nguyễn Văn An", "m"), ("Thị Hương", "f"), ("Minh", "m"), ("Thu", "f"),
           ("Quang", "m"), ("Lan", "f")],
    "zh": [("Wei", "m"), ("Xiaoming", "m"), ("Mei", "f"), ("Jing", "f"), ("Hao", "m"),
           ("Lihua", "f")],
    "in": [("Rajesh", "m"), ("Priya", "f"), ("Sanjay", "m"), ("Lakshmi", "f"),
           ("Arjun", "m"), ("Deepa", "f")],
    "ar": [("Mohammed", "m"), ("Fatima", "f"), ("Youssef", "m"), ("Aisha", "f"),
           ("Omar", "m"), ("Layla", "f")],
}
SURNAMES = {
    "en": ["Smith", "O'Brien", "Johnson", "MacDonald", "Whitfield", "Harrington",
           "Pemberton", "Ashcroft", "Kowalski", "Van der Berg"],
    "es": ["García López", "Martínez", "de la Cruz", "Hernández-Ruiz", "Fernández",
           "Núñez", "Sánchez Ortega", "Ibáñez"],
    "vi": ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng"],
    "zh": ["Wang", "Zhang", "Liu", "Chen", "Huang", "Zhao"],
    "in": ["Patel", "Sharma", "Iyer", "Reddy", "Nair", "Gupta"],
    "ar": ["Al-Hassan", "El-Amin", "Haddad", "Abdullah", "Mansour", "Khalil"],
}
MIDDLE = ["Ann", "Lee", "Marie", "John", "Ray", "Grace", "", "", ""]
NICK = {"William": "Bill", "Robert": "Bob", "Margaret": "Peggy", "Elizabeth": "Liz",
        "James": "Jim", "Katherine": "Kate", "Thomas": "Tom", "Richard": "Dick",
        "Edward": "Ted", "Francisco": "Paco", "José": "Pepe", "Guadalupe": "Lupe",
        "Dolores": "Lola", "Ignacio": "Nacho", "Concepción": "Concha", "Manuel": "Manolo"}
VARIANT = {"Mohammed": "Muhammad", "Youssef": "Yusuf", "Aisha": "Ayesha"}


def fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def typo(s):
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    kind = rng.choice(["swap", "drop", "sub"])
    if kind == "swap":
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == "drop":
        return s[:i] + s[i + 1:]
    return s[:i] + rng.choice("aeiourstnl") + s[i + 1:]


def make_people(n):
    people, ssns = [], set()
    for pid in range(n):
        culture = rng.choice(list(GIVEN))
        given, sex = rng.choice(GIVEN[culture])
        while True:
            ssn = "%03d%02d%04d" % (rng.randint(900, 999), rng.randint(1, 49), rng.randint(1, 9999))
            if ssn not in ssns:
                break
        ssns.add(ssn)
        people.append({
            "pid": "P%04d" % pid, "given": given, "sex": sex, "culture": culture,
            "middle": rng.choice(MIDDLE) if culture in ("en", "es") else "",
            "surname": rng.choice(SURNAMES[culture]),
            "dob": (rng.randint(1930, 2004), rng.randint(1, 12), rng.randint(1, 28)),
            "ssn": ssn, "zip": "%05d" % rng.randint(10000, 99999),
        })
    # Twins: same surname, birth date and ZIP, different given names and SSNs.
    for k in range(12):
        a = people[k * 2]
        twin = dict(a)
        twin["pid"] = "P%04d" % len(people)
        twin["given"] = rng.choice([g for g, s in GIVEN["en"] if g != a["given"]])
        twin["ssn"] = "%03d%02d%04d" % (rng.randint(900, 999), rng.randint(1, 49), 9000 + k)
        people.append(twin)
    return people


def damage_ssn(ssn):
    r = rng.random()
    if r < 0.06:
        i = rng.randrange(8)
        return ssn[:i] + ssn[i + 1] + ssn[i] + ssn[i + 2:]
    if r < 0.10:
        i = rng.randrange(9)
        return ssn[:i] + str((int(ssn[i]) + 1) % 10) + ssn[i + 1:]
    return ssn


def damage_dob(dob):
    y, m, d = dob
    r = rng.random()
    if r < 0.05 and d <= 12:
        return (y, d, m)
    if r < 0.08:
        return (y + rng.choice([-1, 1]), m, d)
    return dob


def benefits_rows(people):
    rows = []
    for p in people:
        if rng.random() > 0.8:
            continue
        copies = 2 if rng.random() < 0.06 else 1  # enrolled twice
        for _ in range(copies):
            given = p["given"].split()[0] if p["given"].count(" ") < 2 else p["given"]
            if rng.random() < 0.05:
                given = typo(given)
            y, m, d = damage_dob(p["dob"])
            ssn = damage_ssn(p["ssn"])
            zipc = p["zip"] + ("-%04d" % rng.randint(1, 9999) if rng.random() < 0.4 else "")
            mid = p["middle"][:1] if p["middle"] and rng.random() < 0.5 else p["middle"]
            rows.append({"pid": p["pid"], "culture": p["culture"], "FIRST_NAME": fold(given).upper(),
                         "MIDDLE": fold(mid).upper(), "LAST_NAME": fold(p["surname"]).upper(),
                         "DOB": "%02d/%02d/%04d" % (m, d, y),
                         "SSN": "%s-%s-%s" % (ssn[:3], ssn[3:5], ssn[5:]), "ZIP": zipc})
    return rows


def deaths_rows(people):
    rows = []
    for p in people:
        if rng.random() > 0.15:
            continue
        y, m, d = damage_dob(p["dob"])
        name = "%s, %s" % (fold(p["surname"]).upper(), fold(p["given"]).upper())
        if p["middle"]:
            name += " " + fold(p["middle"]).upper()[:1]
        rows.append({"pid": p["pid"], "culture": p["culture"], "decedent": name, "birth_date": "%04d%02d%02d" % (y, m, d),
                     "ssn": damage_ssn(p["ssn"]) if rng.random() < 0.9 else "",
                     "date_of_death": "%04d-%02d-%02d" % (rng.randint(2015, 2025),
                                                          rng.randint(1, 12), rng.randint(1, 28)),
                     "zip": p["zip"]})
    return rows


def voters_rows(people):
    rows = []
    for p in people:
        if rng.random() > 0.6:
            continue
        given = p["given"]
        r = rng.random()
        if r < 0.15 and given in NICK:
            given = NICK[given]
        elif r < 0.3 and given in VARIANT:
            given = VARIANT[given]
        surname = p["surname"]
        if p["sex"] == "f" and rng.random() < 0.2:  # married: hyphenated or new name
            new = rng.choice(SURNAMES["en"])
            surname = surname + "-" + new if rng.random() < 0.5 else new
        if rng.random() < 0.3:
            given, surname = fold(given), fold(surname)
        if rng.random() < 0.04:
            surname = typo(surname)
        name = " ".join(x for x in (given, p["middle"], surname) if x)
        y, m, d = damage_dob(p["dob"])
        rows.append({"pid": p["pid"], "culture": p["culture"], "name": name, "birth": "%04d-%02d-%02d" % (y, m, d),
                     "zip": p["zip"] if rng.random() < 0.85 else "%05d" % rng.randint(10000, 99999),
                     "sex": {"m": "M", "f": "F"}[p["sex"]]})
    return rows


def write(path, id_col, prefix, fields, rows, truth, source):
    rng.shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([id_col] + fields)
        for i, r in enumerate(rows):
            rid = "%s%05d" % (prefix, i + 1)
            w.writerow([rid] + [r[k] for k in fields])
            truth.append((source, rid, r["pid"], r["culture"]))


def main():
    people = make_people(300)
    truth = []
    write("benefits.csv", "BEN_ID", "B", ["FIRST_NAME", "MIDDLE", "LAST_NAME", "DOB", "SSN", "ZIP"],
          benefits_rows(people), truth, "benefits")
    write("deaths.csv", "death_id", "D", ["decedent", "birth_date", "ssn", "date_of_death", "zip"],
          deaths_rows(people), truth, "deaths")
    write("voters.csv", "voter_no", "V", ["name", "birth", "zip", "sex"], voters_rows(people),
          truth, "voters")
    with open("truth.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "record_id", "entity", "group"])
        w.writerows(truth)


if __name__ == "__main__":
    main()
