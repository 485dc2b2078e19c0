"""Compares python-pkcs11's test results on ferrohsm with SoftHSM's and with expected.txt.

Usage: compare.py --expected FILE --ferrohsm XML [--softhsm XML]   (pytest JUnit XML, xunit2)

Exit status 1 when:
  - a test passes on SoftHSM but not on ferrohsm, and expected.txt does not list it;
  - a test fails (or errors) on ferrohsm and expected.txt does not list it as "fail";
  - a test listed in expected.txt passes on ferrohsm (the list must be shortened), or is listed
    with another outcome than the one seen, or is not in the suite at all;
  - a test fails on SoftHSM (the reference: the harness or the machine is broken).
"""

import argparse
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """test id -> (outcome, message); outcome is pass | fail | skip."""
    res = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        # classname "tests.test_aes.AESTests", name "test_encrypt" -> "test_aes.py::AESTests::test_encrypt"
        parts = case.get("classname", "").split(".")
        if len(parts) >= 3:
            tid = f"{parts[-2]}.py::{parts[-1]}::{case.get('name')}"
        else:
            tid = f"{case.get('classname')}::{case.get('name')}"
        outcome, msg = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, msg = "fail", (child.get("message") or "").splitlines()[0:1]
                msg = msg[0] if msg else child.tag
            elif child.tag == "skipped":
                outcome, msg = "skip", child.get("message") or ""
        res[tid] = (outcome, msg[:140])
    return res


def expected(path):
    """test id -> (outcome, reason) from lines 'ID OUTCOME [# reason]'. A line without its own
    comment takes the comments above it: the section heading ('# ---- ...' lines) and the
    comment block right above its group of lines. A blank line ends both."""
    res = {}
    section, block, after_entry = [], [], False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s:
                section, block, after_entry = [], [], False
                continue
            if s.startswith("#"):
                text = s.lstrip("#").strip()
                if text.startswith("----"):
                    if after_entry:
                        section, block = [], []
                    section.append(text.lstrip("-").strip())
                else:
                    if after_entry:
                        block = []
                    block.append(text)
                after_entry = False
                continue
            after_entry = True
            body, _, reason = s.partition("#")
            fields = body.split()
            if len(fields) != 2 or fields[1] not in ("fail", "skip"):
                sys.exit(f"{path}:{n}: expected 'TEST-ID fail|skip [# reason]', got: {s}")
            why = reason.strip() or " ".join(block + section)
            if not why:
                sys.exit(f"{path}:{n}: {fields[0]} has no reason")
            if fields[0] in res:
                sys.exit(f"{path}:{n}: {fields[0]} listed twice")
            res[fields[0]] = (fields[1], why)
    return res


def counts(res):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for o, _ in res.values():
        c[o] += 1
    return f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped ({len(res)} tests)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expected", required=True)
    ap.add_argument("--ferrohsm", required=True)
    ap.add_argument("--softhsm")
    a = ap.parse_args()
    fer = outcomes(a.ferrohsm)
    soft = outcomes(a.softhsm) if a.softhsm else None
    exp = expected(a.expected)
    problems = []

    print(f"python-pkcs11: ferrohsm: {counts(fer)}")
    if soft is not None:
        print(f"python-pkcs11: softhsm:  {counts(soft)}")
        for tid, (o, msg) in sorted(soft.items()):
            if o == "fail":
                problems.append(f"REFERENCE: {tid} fails on SoftHSM ({msg}): harness or machine broken")

    print("python-pkcs11: expected differences on ferrohsm (expected.txt):")
    for tid, (want, why) in sorted(exp.items()):
        got, msg = fer.get(tid, ("absent", ""))
        ref = soft.get(tid, ("-", ""))[0] if soft is not None else "-"
        mark = "ok" if got == want else "UNEXPECTED"
        short = why if len(why) <= 100 else why[:97] + "..."
        print(f"  [{mark}] {tid}: ferrohsm {got}, softhsm {ref}, listed {want}: {short}")
        if got == "absent":
            problems.append(f"{tid} is listed in expected.txt but is not in the suite: remove it")
        elif got == "pass":
            problems.append(f"{tid} now passes on ferrohsm: remove it from expected.txt")
        elif got != want:
            problems.append(f"{tid}: listed as {want}, but it is {got} on ferrohsm ({msg})")

    for tid, (o, msg) in sorted(fer.items()):
        if tid in exp:
            continue
        if o == "fail":
            problems.append(f"{tid} fails on ferrohsm and is not listed: {msg}")
        elif o == "skip" and soft is not None and soft.get(tid, ("",))[0] == "pass":
            problems.append(f"{tid} passes on SoftHSM but is skipped on ferrohsm ({msg}) and is not listed")
    if soft is not None:
        for tid in sorted(set(soft) - set(fer)):
            if soft[tid][0] == "pass" and tid not in exp:
                problems.append(f"{tid} passes on SoftHSM but did not run on ferrohsm")
        extra = sorted(t for t, (o, _) in fer.items() if o == "pass" and soft.get(t, ("",))[0] == "skip")
        if extra:
            print("python-pkcs11: passed on ferrohsm, skipped on SoftHSM (mechanisms SoftHSM lacks):")
            for tid in extra:
                print(f"  {tid}: softhsm: {soft[tid][1]}")

    if problems:
        print("python-pkcs11: FAILED:")
        for p in problems:
            print(f"  {p}")
        return 1
    print("python-pkcs11: ok (every difference from SoftHSM is listed in expected.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
