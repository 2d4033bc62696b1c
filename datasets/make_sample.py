"""Writes tech_news_sample.jsonl: ~300 short, invented tech-news briefs in 8 gold topics.

All text here was written for newsclust; company, product and place names are made up, so no
brief states a fact about a real firm. Deterministic: the same script gives the same file.

    python3 datasets/make_sample.py
"""

import datetime
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "tech_news_sample.jsonl"
PER_TOPIC = 38

COMPANIES = ["Northwind Cloud", "Veridian Systems", "Halcyon AI", "Brightforge", "Quantel Labs", "Orbis Compute",
             "Lumen Foundry", "Stratus Nine", "Cobalt Semiconductor", "Meridian Networks", "Tessellate", "Arcadia Data",
             "Pinecrest Devices", "Helix Robotics", "Sable Security", "Kestrel Mobile", "Nimbus Works", "Fernhill",
             "Oakline", "Corvid Labs", "Tidal Logic", "Amberly", "Westgate Micro", "Polaris Grid", "Juniper Ridge",
             "Solace", "Mosaic Compute", "Rivulet", "Granary", "Bluecrest", "Ostrava Tech", "Quillon", "Everbright Silicon",
             "Marlowe", "Vantage Point", "Ardent Mobile", "Cinder", "Larkspur AI", "Redwood Circuit", "Triton Bay"]
SOURCES = ["The Circuit", "Byteline", "Stack Report", "Wired Desk", "Chipwatch", "Cloud Ledger", "Signal & Noise", "Dev Dispatch"]
REGIONS = ["Ireland", "Texas", "Ohio", "Malaysia", "Finland", "Arizona", "Taiwan", "Bavaria", "Quebec", "Singapore", "Osaka", "Catalonia"]

TOPICS = {
    "cloud partnerships": {
        "titles": ["{a} and {b} sign multi-year cloud compute partnership",
                   "{a} ends exclusive cloud deal, adds {b} as second provider",
                   "{a} moves AI training workloads to {b} under new alliance",
                   "{a} and {b} form alliance to resell GPU capacity",
                   "{a} renegotiates hosting agreement with {b}",
                   "{b} becomes preferred cloud partner for {a}"],
        "body": ["The agreement covers {n} billion dollars of reserved compute over {y} years.",
                 "Analysts say the shift weakens the exclusivity that defined the earlier partnership.",
                 "{a} will run model training on {b}'s accelerator clusters while keeping inference in-house.",
                 "Both companies said customers would see joint billing and shared support from next quarter.",
                 "The deal lets {a} spread its workloads across more than one cloud for the first time.",
                 "People familiar with the talks said pricing was tied to guaranteed capacity rather than usage."],
    },
    "AI infrastructure build-out": {
        "titles": ["{a} plans {n} gigawatt data centre campus in {r}",
                   "{a} breaks ground on liquid-cooled AI data centre in {r}",
                   "{a} signs power purchase deal to feed new AI campus",
                   "{a} doubles data centre capex to expand AI capacity",
                   "Grid operator in {r} approves substation for {a} data centre",
                   "{a} opens new AI cluster with {k} thousand accelerators"],
        "body": ["The first halls are expected to come online in {m} with racks designed for liquid cooling.",
                 "Local officials said the site will draw power from a new substation and a solar farm.",
                 "The company raised its capital spending forecast, citing demand for training capacity.",
                 "Construction crews will add {k} thousand accelerators across three buildings.",
                 "Utilities warn that the regional grid needs upgrades before the campus reaches full load.",
                 "Executives said the build-out is sized for the next two generations of model training."],
    },
    "chips and supply": {
        "titles": ["{a} secures wafer supply for next-generation accelerators",
                   "Memory shortage delays {a} GPU shipments",
                   "{a} starts volume production on {nm} nm process",
                   "{a} warns of packaging bottleneck for AI chips",
                   "Export rules squeeze {a} chip sales in {r}",
                   "{a} invests in new advanced packaging plant in {r}"],
        "body": ["High-bandwidth memory remains the tightest part of the supply chain, the company said.",
                 "Lead times for advanced packaging have stretched to {w} weeks according to distributors.",
                 "The foundry expects yields on the {nm} nm node to improve through the second half.",
                 "New export licensing requirements cut shipments to several customers in the quarter.",
                 "The plant will assemble chiplets and stack memory for data centre processors.",
                 "Customers have been asked to commit to orders up to a year in advance."],
    },
    "model releases": {
        "titles": ["{a} releases open-weight language model with {p} billion parameters",
                   "{a} launches multimodal model that reads charts and video",
                   "{a} ships smaller reasoning model for on-device use",
                   "{a} updates flagship model with longer context window",
                   "{a} publishes coding model that tops benchmark leaderboards",
                   "{a} previews speech model with real-time translation"],
        "body": ["The model handles a context window of {c} thousand tokens and is available through an API.",
                 "Weights are released under a permissive licence for research and commercial use.",
                 "Benchmarks published by the company show gains in maths, coding and tool use.",
                 "A distilled version runs on laptops and phones without a network connection.",
                 "Developers can fine-tune the model on their own data through a new console.",
                 "The release notes describe a new training recipe with more synthetic data."],
    },
    "regulation and antitrust": {
        "titles": ["Regulators open antitrust probe into {a} app store fees",
                   "EU fines {a} over data transfers",
                   "{a} agrees to conditions to win approval for {b} merger",
                   "Competition authority blocks {a} bid for {b}",
                   "Lawmakers in {r} pass rules for high-risk AI systems",
                   "{a} settles privacy case with consumer watchdog"],
        "body": ["The investigation will examine whether default settings shut out rival services.",
                 "The fine amounts to {n} hundred million euros and the company plans to appeal.",
                 "Under the settlement {a} must let users delete their data and export it.",
                 "Officials said the merger would reduce competition in cloud software.",
                 "The new law requires audits, incident reporting and human oversight for high-risk systems.",
                 "Consumer groups welcomed the decision but said enforcement will be the real test."],
    },
    "security incidents": {
        "titles": ["Ransomware attack disrupts {a} operations",
                   "{a} discloses breach affecting {k} thousand customer accounts",
                   "Hackers exploit zero-day flaw in {a} VPN appliance",
                   "{a} patches critical vulnerability after active attacks",
                   "Phishing campaign targets {a} developers with fake updates",
                   "Leaked credentials expose {a} source code repository"],
        "body": ["The company said attackers encrypted servers and demanded payment in cryptocurrency.",
                 "Customers are being told to reset passwords and turn on multi-factor authentication.",
                 "Security researchers saw attackers using the flaw before a patch was available.",
                 "An emergency update fixes the remote code execution bug in the login page.",
                 "Investigators traced the intrusion to a compromised contractor account.",
                 "The incident response team has notified regulators and law enforcement."],
    },
    "funding and acquisitions": {
        "titles": ["{a} raises {n} hundred million dollars in Series {s} round",
                   "{a} agrees to acquire {b} for {n} billion dollars",
                   "{b} buys developer tools startup from {a}",
                   "{a} valuation doubles after new funding round",
                   "Investors back {a} with seed funding for robotics platform",
                   "{a} completes takeover of analytics firm {b}"],
        "body": ["The round was led by {v} with participation from existing investors.",
                 "The deal, paid in cash and stock, is expected to close next quarter.",
                 "The startup will use the money to hire engineers and expand into Europe.",
                 "The acquisition gives {a} a team of data engineers and a product with paying customers.",
                 "Founders said the new valuation reflects rapid growth in annual recurring revenue.",
                 "Terms of the transaction were not disclosed beyond the headline price."],
    },
    "consumer devices": {
        "titles": ["{a} unveils foldable phone with larger hinge-free screen",
                   "{a} launches smart glasses with built-in assistant",
                   "{a} smartwatch adds blood pressure alerts",
                   "{a} cuts price of mixed reality headset",
                   "{a} announces laptop with all-day battery and AI chip",
                   "{a} recalls wireless earbuds over battery fault"],
        "body": ["The device goes on sale in {m} starting at {d} dollars.",
                 "Reviewers praised the display but said battery life lags rivals.",
                 "A new on-device assistant answers questions without sending audio to the cloud.",
                 "The update arrives for existing owners through a software download.",
                 "The company said fewer than {k} thousand units are affected by the recall.",
                 "Shipments are expected to pick up ahead of the holiday season."],
    },
}

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "September", "October", "November"]
INVESTORS = ["Ironbark Capital", "Granite Ventures", "Tidewater Partners", "Foxglove Fund"]


def fill(template: str, rng: random.Random, a: str, b: str) -> str:
    return template.format(
        a=a, b=b, r=rng.choice(REGIONS), n=rng.randint(2, 9), y=rng.randint(3, 7), k=rng.randint(10, 90),
        m=rng.choice(MONTHS), nm=rng.choice([2, 3, 4, 5]), w=rng.randint(20, 52), p=rng.choice([7, 14, 32, 70, 120]),
        c=rng.choice([128, 256, 512, 1000]), s=rng.choice("ABCD"), v=rng.choice(INVESTORS), d=rng.choice([199, 349, 499, 999]),
    )


def cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def main() -> None:
    rng = random.Random(20260101)
    start = datetime.date(2025, 1, 6)
    rows, seen = [], set()
    for label, spec in TOPICS.items():
        made = 0
        while made < PER_TOPIC:
            a, b = rng.sample(COMPANIES, 2)
            title = fill(rng.choice(spec["titles"]), rng, a, b)
            if title in seen:
                continue
            seen.add(title)
            sentences = rng.sample(spec["body"], rng.randint(1, 3))
            # Bodies name no company: the topic, not the firm, should carry the story.
            text = " ".join(cap(fill(s, rng, "the company", "its partner")) for s in sentences)
            date = start + datetime.timedelta(days=rng.randint(0, 690))
            rows.append({"title": title, "text": text, "date": date.isoformat(), "source": rng.choice(SOURCES), "label": label})
            made += 1
    rng.shuffle(rows)
    with OUT.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            f.write(json.dumps({"id": f"nc-{i:04d}", **row}, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} briefs in {len(TOPICS)} topics to {OUT}")


if __name__ == "__main__":
    main()
