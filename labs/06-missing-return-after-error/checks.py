"""The checks of lab 06 (see gopitfalls.labs), judged on the learner's program.

The traffic comes from a during_load hook: PER_KIND requests of each of six kinds, shuffled,
from THREADS client threads, each on its own connection; then the balance of every card
the requests touched. Every request of a kind takes the same path through the handlers,
so the starter's counts are exact (see each check)."""

import json
import random

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check
from gopitfalls.traffic import call, concurrently

START = {"GC-1000": 1_000_000, "GC-0500": 500}  # balances at start (newBank in main.go)
KINDS = {  # kind: (method, path, body, the status a correct service answers)
    "payment": ("POST", "/cards/GC-1000/redeem", '{"amount_cents":100}', 201),
    "bad JSON": ("POST", "/cards/GC-1000/redeem", '{"amount_cents":', 400),
    "negative amount": ("POST", "/cards/GC-1000/redeem", '{"amount_cents":-500}', 400),
    "unknown card": ("POST", "/cards/GC-7777/redeem", '{"amount_cents":100}', 404),
    "balance too low": ("POST", "/cards/GC-0500/redeem", '{"amount_cents":10000}', 409),
    "unknown balance": ("GET", "/cards/GC-8888", None, 404),
}
PER_KIND, THREADS = 40, 8
PAYMENT = 100  # cents, each "payment"


def send(base_url, method, path, body):
    headers = {"Content-Type": "application/json"} if body else None
    answer = call(base_url + path, method, body=body, headers=headers, timeout=10)
    return answer.status, answer.text if answer.status is not None else answer.error


def traffic(ctl):
    jobs = [kind for kind in KINDS for _ in range(PER_KIND)]
    random.Random(6).shuffle(jobs)
    ctl.data["answers"] = concurrently(lambda kind: (kind, *send(ctl.url, *KINDS[kind][:3])),
                                       jobs, THREADS)
    ctl.data["balances"] = {code: send(ctl.url, "GET", f"/cards/{code}", None)
                            for code in [*START, "GC-7777"]}


RUNS = {"lab": RunSpec("lab", overrides={"during_load": traffic})}


def one_line(body):
    return body.count("\n") == 1 and body.endswith("\n")


def examples(run, wrong):
    """{kind: (answers, answers for which wrong(kind, status, body), one of them)}"""
    out = {}
    for kind, status, body in run.data["answers"]:
        n, bad, example = out.get(kind, (0, 0, None))
        if wrong(kind, status, body):
            bad, example = bad + 1, example or f"{status} {body!r}"[:160]
        out[kind] = (n + 1, bad, example)
    return out


@check("Some requests got an error followed by more: an error line, then a receipt. What "
       "does the handler do after http.Error?",
       "http.Error writes the answer but does not end the handler: the code after it runs "
       "too, and writes a second answer into the same response. Only return stops it.",
       "After each http.Error, return. Where the error is found in a helper "
       "(decodeRedemption), a return there ends only the helper: make it report the "
       "failure (return an error or an ok bool) and return from the handler.")
def every_request_gets_one_answer(lab):
    # measured on the starter (exact, every run, both backends): all 40 payments one line;
    # every request of the five refused kinds an error line and then the card's JSON (bad
    # JSON: two error lines and the JSON), 200 of 240
    evidence = [expect.at_least(len(lab.data["answers"]), PER_KIND * len(KINDS),
                                "requests answered or dropped")]
    for kind, (n, bad, example) in examples(
            lab, lambda kind, status, body: status is None or not one_line(body)).items():
        evidence.append(expect.at_most(bad, 0, f"{kind}: answers that were not one line (of "
                                       f"{n})" + (f"; one: {example}" if example else "")))
    return evidence


@check("Every request got one answer, yet the balances do not add up: a refused payment "
       "still changed a card. What runs after the error answer has been written?",
       "Suppressing the second write (a ResponseWriter that ignores it) hides the symptom: "
       "the handler still goes on, takes the money, credits the negative amount and stores "
       "the unknown card.",
       "Return from the handler right after each error answer, before the card is "
       "changed; keep the payment itself (a valid payment of 100 cents must be taken).")
def a_refused_payment_changes_nothing(lab):
    # measured on a ResponseWriter that drops what follows an error (wrong-write-once),
    # exact: GC-1000 at 1,016,000 instead of 996,000 (40 negative amounts credited 500
    # each), GC-0500 at -399,500, GC-7777 a new card
    answers = lab.data["answers"]
    paid = sum(1 for kind, status, _ in answers if kind == "payment" and status == 201)
    balances = lab.data["balances"]

    def cents(code):
        status, body = balances[code]
        try:
            return status, json.loads(body)["balance_cents"]
        except (ValueError, KeyError, TypeError):
            return status, None

    want = START["GC-1000"] - PAYMENT * paid
    return [expect.holds(cents("GC-1000") == (200, want),
                         f"GC-1000 after {paid} payments of {PAYMENT} cents: {cents('GC-1000')} "
                         f"(status, balance); expected (200, {want})"),
            expect.holds(cents("GC-0500") == (200, START["GC-0500"]),
                         f"GC-0500 after {PER_KIND} payments refused for its balance: "
                         f"{cents('GC-0500')}; expected (200, {START['GC-0500']})"),
            expect.holds(balances["GC-7777"][0] == 404,
                         f"GC-7777, never issued, after {PER_KIND} refused payments: answered "
                         f"{balances['GC-7777'][0]}; expected 404")]


@check("Every request has one answer and the cards add up, but some answers carry the wrong "
       "status: a payment must answer 201, each refusal its own 400, 404 or 409.",
       "Keep each http.Error with its status, and keep the payment: a valid payment takes "
       "the money and answers 201 with the new balance.")
def each_request_gets_its_own_status(lab):
    # a guard: a fix that refuses everything passes the two checks before (no money moves)
    evidence = []
    for kind, (n, bad, example) in examples(
            lab, lambda kind, status, body: status != KINDS[kind][3]).items():
        evidence.append(expect.at_most(bad, 0, f"{kind}: answers other than "
                                       f"{KINDS[kind][3]} (of {n})"
                                       + (f"; one: {example}" if example else "")))
    return evidence
