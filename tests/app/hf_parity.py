"""Parity of an exported Hugging Face model folder with the C++ model (tests/app/hf_export_test.sh).

  model  EXPORT ENCODED...    run the Python twin on the padded batch `mabert encode` wrote and
                              compare every output (max |delta| printed; fails when |delta| / max(1, |value|) exceeds --tol)
  tokens EXPORT ENCODED TEXT  tokenize TEXT's lines with AutoTokenizer, padded on the same side;
                              ids, segment ids and mask must equal the C++ ones exactly
  predictions EXPORT TSV PREDICTIONS  classify a GLUE TSV split with the exported classifier; the
                              labels must equal `mabert eval --predictions`
Runs offline: only the exported folder is read.
"""
import argparse
import csv
import sys

import torch
from safetensors.torch import load_file
from transformers import (AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification,
                          AutoTokenizer)

torch.set_num_threads(2)


def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def cmd_model(args):
    for encoded in args.encoded:
        check_model(args.export, encoded, args.tol, f"{args.label} ({ref_padding(encoded)} padding)")


def ref_padding(path):
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        return (f.metadata() or {}).get("padding", "?")


def check_model(export, encoded, tol, label):
    ref = load_file(encoded)
    ids, mask, seg = ref["input_ids"], ref["attention_mask"], ref["token_type_ids"]
    base = AutoModel.from_pretrained(export, trust_remote_code=True).eval()
    worst, report = 0.0, []
    with torch.no_grad():
        out = base(input_ids=ids, attention_mask=mask, token_type_ids=seg, output_hidden_states=True)
        pairs = [("last_hidden_state", out.last_hidden_state), ("pooler_output", out.pooler_output),
                 ("pool_weights", out.pool_weights)]
        layers = sorted((k for k in ref if k.startswith("hidden_states.")), key=lambda k: int(k.split(".")[1]))
        if layers and len(layers) != len(out.hidden_states):
            sys.exit(f"hidden states: C++ wrote {len(layers)}, Python has {len(out.hidden_states)}")
        pairs += [(k, out.hidden_states[i]) for i, k in enumerate(layers)]
        if "logits" in ref:
            cls = AutoModelForSequenceClassification.from_pretrained(export, trust_remote_code=True).eval()
            logits = cls(input_ids=ids, attention_mask=mask, token_type_ids=seg).logits
            pairs.append(("logits", logits.squeeze(-1) if ref["logits"].dim() == 1 else logits))
        if "mlm_logits" in ref:
            mlm = AutoModelForMaskedLM.from_pretrained(export, trust_remote_code=True).eval()
            pairs.append(("mlm_logits", mlm(input_ids=ids, attention_mask=mask, token_type_ids=seg).logits))
    for name, got in pairs:
        want = ref[name]
        if tuple(got.shape) != tuple(want.shape):
            sys.exit(f"{name}: shape {tuple(got.shape)} in Python, {tuple(want.shape)} in C++")
        # fp32 round-off grows with an output's size (the unnormalised residual stream of a deep
        # layer reaches tens): |delta| is measured against max(1, max |C++ value|).
        d = max_abs(got, want)
        scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
        report.append(f"{name} {d:.2e}" + (f" (of {scale:.3g})" if scale > 1 else ""))
        worst = max(worst, d / scale)
    # MAP gives pads exactly zero weight in both.
    if base.config.pooling == "map" and (out.pool_weights[mask == 0] != 0).any():
        sys.exit("MAP weight on a pad is not exactly 0")
    print(f"{label}: max |delta| / max(1, |value|) {worst:.2e} over {len(pairs)} outputs ({', '.join(report)})")
    if worst > tol:
        sys.exit(f"{label}: max |delta| / max(1, |value|) {worst:.2e} exceeds {tol:g}")


def read_lines(path, pairs):
    rows = [line.rstrip("\r\n") for line in open(path, encoding="utf-8")]
    rows = [r for r in rows if r]
    return [r.split("\t", 1) for r in rows] if pairs else rows


def cmd_tokens(args):
    ref = load_file(args.encoded)
    tok = AutoTokenizer.from_pretrained(args.export, trust_remote_code=True)
    tok.padding_side = args.padding
    rows = read_lines(args.text, args.pairs)
    length = ref["input_ids"].size(1)
    if args.pairs:
        enc = tok([a for a, _ in rows], [b for _, b in rows], padding="max_length", max_length=length,
                  truncation="longest_first", return_tensors="pt")
    else:
        enc = tok(rows, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    bad = 0
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        diff = (enc[key] != ref[key]).any(1)
        if diff.any():
            i = int(diff.nonzero()[0])
            print(f"{key} differ on {int(diff.sum())} rows; first: row {i}: {rows[i]!r}\n  python {enc[key][i].tolist()}\n"
                  f"  c++    {ref[key][i].tolist()}")
            bad += 1
    if bad:
        sys.exit(1)
    print(f"tokenizer: ids, segment ids and masks equal on {len(rows)} {'pairs' if args.pairs else 'sentences'} "
          f"({args.padding} padding, {length} tokens)")


def cmd_predictions(args):
    tok = AutoTokenizer.from_pretrained(args.export, trust_remote_code=True)
    model = AutoModelForSequenceClassification.from_pretrained(args.export, trust_remote_code=True).eval()
    with open(args.tsv, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    a_col, b_col = args.columns.split(",") if "," in args.columns else (args.columns, None)
    with open(args.predictions, encoding="utf-8") as f:
        want = [line.rstrip("\n").split("\t")[-1] for line in f][1:]
    if len(want) != len(rows):
        sys.exit(f"{args.predictions}: {len(want)} predictions for {len(rows)} examples")
    got = []
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            chunk = rows[i:i + 64]
            a = [r[a_col] for r in chunk]
            b = [r[b_col] for r in chunk] if b_col else None
            enc = tok(a, b, padding=True, truncation=True, max_length=args.max_len, return_tensors="pt")
            logits = model(**enc).logits
            got += logits.argmax(-1).tolist() if logits.size(-1) > 1 else logits.squeeze(-1).tolist()
    if model.config.num_labels > 1:
        labels = args.labels.split(",")
        mismatch = [i for i, (g, w) in enumerate(zip(got, want)) if labels[g] != w]
    else:
        mismatch = [i for i, (g, w) in enumerate(zip(got, want)) if abs(g - float(w)) > 1e-4]
    print(f"predictions: {len(got) - len(mismatch)}/{len(got)} equal to `mabert eval`")
    if mismatch:
        sys.exit(f"first mismatch: example {mismatch[0]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model")
    m.add_argument("export"), m.add_argument("encoded", nargs="+")
    m.add_argument("--tol", type=float, default=1e-5), m.add_argument("--label", default="parity")
    t = sub.add_parser("tokens")
    t.add_argument("export"), t.add_argument("encoded"), t.add_argument("text")
    t.add_argument("--pairs", action="store_true"), t.add_argument("--padding", default="right")
    r = sub.add_parser("predictions")
    r.add_argument("export"), r.add_argument("tsv"), r.add_argument("predictions")
    r.add_argument("--columns", default="sentence"), r.add_argument("--labels", default="0,1")
    r.add_argument("--max-len", type=int, default=128)
    b = sub.add_parser("batch", help="run the checks listed in a file, one per line: LABEL<TAB>check arguments "
                                     "(shell-quoted); prints 'ok LABEL' or 'FAIL LABEL: why' per line (one Python start)")
    b.add_argument("jobs")
    args = p.parse_args()
    run = {"model": cmd_model, "tokens": cmd_tokens, "predictions": cmd_predictions}
    if args.cmd != "batch":
        run[args.cmd](args)
        return
    import shlex
    import traceback
    failed = 0
    for line in open(args.jobs, encoding="utf-8"):
        if not line.strip():
            continue
        label, _, rest = line.rstrip("\n").partition("\t")
        try:
            job = p.parse_args(shlex.split(rest))
            run[job.cmd](job)
            print(f"ok {label}", flush=True)
        except SystemExit as e:  # a check's sys.exit("why"), or argparse's
            failed += 1
            print(f"FAIL {label}: {e.code}", flush=True)
        except Exception:  # noqa: BLE001 - every other failure is a failed check, reported
            failed += 1
            print(f"FAIL {label}: {traceback.format_exc(limit=3)}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
