#!/usr/bin/env python3
"""vad_score.py SETDIR SPLIT NAME=RESULTS.tsv ...: scores VAD results
(lines of bench/vad_eval.c or bench/vad_silero.mjs) against the set's
labels and prints markdown tables.

Per 10 ms label frame, a detector says speech when the frame's midpoint lies
in one of its segments (begin..end: from its onset to its last speech frame,
so the hangover that ends a turn is not counted as speech). Precision,
recall and F1 are over all frames of the speech clips at one noise level.

Onset latency, per utterance (a run of speech frames after at least 0.5 s
of none): from the utterance's first speech frame to the onset of the first
segment that overlaps it, when that segment begins no more than 100 ms
before the utterance (one that began earlier was already running: counted
as 'early', not timed). 'onset' is when the detector first said so (ours:
the ONSET that led to START, which pauses the agent; Silero: the end of the
first window of the run that led to START_OF_SPEECH); 'start' is when the
start was confirmed (START; START_OF_SPEECH). An utterance no segment
overlaps is missed.

False alarms: segments per minute on the non-speech and the echo-only clips,
and the fraction of their frames said to be speech. Stray onsets: onsets
that came to nothing (ours: CANCEL; Silero: a run of speech windows that
ended before START_OF_SPEECH), per minute of every clip: each pauses a
talking agent for a moment.

CPU: the detector's CPU time per second of audio, over the whole split.

A detector named NAME+guard is one run behind voxgate's echo guard where
the other is not: only the echo-only clips have a reference, the guard
passes every other clip untouched, so it is shown in the last table only.
"""
import os
import re
import sys

LEVELS = ["clean", "20", "10", "5"]
KINDS = ["street", "car", "cafe", "babble", "hiss"]


def load_manifest(setdir, split):
    clips = []
    with open(os.path.join(setdir, "manifest.tsv")) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 8 or p[0] != split:
                continue
            with open(os.path.join(setdir, p[6])) as lf:
                lab = lf.read().strip()
            clips.append({"name": p[1], "kind": p[2], "noise": p[3],
                          "snr": p[4], "lab": lab})
    return clips


def load_results(path):
    res = {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) not in (4, 5):
                continue
            segs = []
            if p[3] != "-":
                for s in p[3].split(","):
                    b, e, o, st = (float(v) for v in s.split(":"))
                    segs.append((b, e, o, st))
            res[p[0]] = {"audio": float(p[1]), "cpu": float(p[2]),
                         "segs": segs,
                         "cancels": int(p[4]) if len(p) == 5 else 0}
    return res


def decisions(segs, nframes):
    d = bytearray(nframes)
    for b, e, _, _ in segs:
        k0 = max(0, int(round(b * 100 - 0.5)))
        k1 = min(nframes, int(round(e * 100 - 0.5)))
        for k in range(k0, k1):
            t = (k + 0.5) / 100
            if b <= t < e:
                d[k] = 1
    return d


def utterances(lab):
    out = []
    for m in re.finditer("1+", lab):
        if out and m.start() - out[-1][1] < 50:
            out[-1][1] = m.end()
        else:
            out.append([m.start(), m.end()])
    return [(a / 100, b / 100) for a, b in out]


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    i = int(k)
    j = min(i + 1, len(xs) - 1)
    return xs[i] + (xs[j] - xs[i]) * (k - i)


class Acc:
    def __init__(self):
        self.tp = self.fp = self.fn = 0
        self.onset = []
        self.start = []
        self.utts = self.missed = self.early = 0

    def prf(self):
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f


def score_speech(clip, res, acc):
    lab = clip["lab"]
    d = decisions(res["segs"], len(lab))
    for k, c in enumerate(lab):
        if c == "1":
            if d[k]:
                acc.tp += 1
            else:
                acc.fn += 1
        elif d[k]:
            acc.fp += 1
    for t0, t1 in utterances(lab):
        acc.utts += 1
        hit = [s for s in res["segs"] if s[0] < t1 and s[1] > t0]
        if not hit:
            acc.missed += 1
            continue
        b, _, o, st = hit[0]
        if b < t0 - 0.1:
            acc.early += 1
            continue
        acc.onset.append(max(0.0, o - t0) * 1000)
        acc.start.append(max(0.0, st - t0) * 1000)


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: vad_score.py SETDIR SPLIT NAME=RESULTS.tsv ...")
    setdir, split = sys.argv[1], sys.argv[2]
    dets = [a.split("=", 1) for a in sys.argv[3:]]
    clips = load_manifest(setdir, split)
    results = {n: load_results(p) for n, p in dets}
    for n, r in results.items():
        missing = [c["name"] for c in clips if c["name"] not in r]
        if missing:
            sys.exit(f"vad_score: {n} has no result for {missing[0]} "
                     f"(and {len(missing) - 1} more)")

    speech = [c for c in clips if c["kind"] == "speech"]
    nsp = [c for c in clips if c["kind"] == "nonspeech"]
    echo = [c for c in clips if c["kind"] == "echo"]
    mins = lambda cs: sum(len(c["lab"]) for c in cs) / 100 / 60
    print(f"Split `{split}`: {len(speech)} speech clips "
          f"({mins(speech):.1f} min, {len(speech) // 16} talkers' clips x 16 "
          f"conditions), {len(nsp)} non-speech ({mins(nsp):.1f} min), "
          f"{len(echo)} echo-only ({mins(echo):.1f} min).\n")

    print("| level | detector | precision | recall | F1 | onset p50 / p90 ms "
          "| start p50 / p90 ms | missed / early / utterances |")
    print("|---|---|---|---|---|---|---|---|")
    speech_dets = [(n, p) for n, p in dets if not n.endswith("+guard")]
    for lv in LEVELS + ["all"]:
        for n, _ in speech_dets:
            acc = Acc()
            for c in speech:
                if (lv == "all" or (lv == "clean" and c["noise"] == "clean")
                        or c["snr"] == lv):
                    score_speech(c, results[n][c["name"]], acc)
            p, r, f = acc.prf()
            name = lv if lv in ("clean", "all") else f"{lv} dB"
            print(f"| {name} | {n} | {p:.3f} | {r:.3f} | **{f:.3f}** | "
                  f"{pct(acc.onset, .5):.0f} / {pct(acc.onset, .9):.0f} | "
                  f"{pct(acc.start, .5):.0f} / {pct(acc.start, .9):.0f} | "
                  f"{acc.missed} / {acc.early} / {acc.utts} |")
    print()

    print("F1 per noise kind and level:\n")
    print("| noise | detector | " + " | ".join(f"{lv} dB" for lv in LEVELS[1:])
          + " |")
    print("|---|---|" + "---|" * (len(LEVELS) - 1))
    for kind in KINDS:
        for n, _ in speech_dets:
            cells = []
            for lv in LEVELS[1:]:
                acc = Acc()
                for c in speech:
                    if c["noise"] == kind and c["snr"] == lv:
                        score_speech(c, results[n][c["name"]], acc)
                cells.append(f"{acc.prf()[2]:.3f}")
            print(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    print()

    print("| detector | non-speech: false alarms / min | non-speech: "
          "speech frames | echo-only: false alarms / min | echo-only: "
          "speech frames | stray onsets / min (all clips) | CPU ms per s of "
          "audio |")
    print("|---|---|---|---|---|---|---|")
    for n, _ in dets:
        row = []
        for cs in (nsp, echo):
            segs = sum(len(results[n][c["name"]]["segs"]) for c in cs)
            fr = sum(sum(decisions(results[n][c["name"]]["segs"],
                                   len(c["lab"]))) for c in cs)
            tot = sum(len(c["lab"]) for c in cs)
            row.append(f"{segs / mins(cs):.2f}" if cs else "-")
            row.append(f"{100 * fr / tot:.1f} %" if cs else "-")
        canc = sum(results[n][c["name"]]["cancels"] for c in clips)
        row.append(f"{canc / mins(clips):.2f}")
        cpu = sum(r["cpu"] for r in results[n].values())
        audio = sum(r["audio"] for r in results[n].values())
        row.append(f"{1000 * cpu / audio:.3f}")
        print(f"| {n} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
