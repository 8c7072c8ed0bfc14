#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (tests/fuzz/seeds/<reader>/) from real files: ../shared/data,
resources/, and the outputs of a small pretraining and fine-tuning run of build/app/mabert.
Large files are cut to a few kB (at line ends where the format has lines); safetensors files are
re-packed with a subset of their real tensors. Rerun it after a format change:

  M=build/app/mabert; export MABERT_REGISTRY=/tmp/seedrun/runs.db
  echo '{"schedule":"MTB","vocab_size":300,"d_model":16,"n_heads":2,"d_ffn":32,"max_len":64,"d_state":4}' > /tmp/seedrun/cfg.json
  $M pretrain --corpus resources/demo/corpus.txt --vocab 300 --config /tmp/seedrun/cfg.json --steps 12 --batch 4 \\
     --max-len 32 --log-every 2 --eval-every 6 --save-every 6 --out /tmp/seedrun/pre --quiet
  $M finetune --task RTE --data ../shared/data/glue/RTE --from /tmp/seedrun/pre --max-train 64 --steps 6 --batch 4 \\
     --max-len 32 --log-every 2 --eval-every 3 --out /tmp/seedrun/ft --quiet
  python3 tests/fuzz/make_seeds.py /tmp/seedrun [path/to/a/studio-project.mabert.json]
"""
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "fuzz", "seeds")


def put(reader, name, data):
    d = os.path.join(OUT, reader)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def head_lines(data, limit):
    """The first lines of `data` that fit in `limit` bytes (at least one line, cut if needed)."""
    if len(data) <= limit:
        return data
    cut = data.rfind(b"\n", 0, limit)
    return data[: cut + 1] if cut > 0 else data[:limit]


def safetensors_subset(path, keep, metadata=None):
    """Re-packs the tensors of a real safetensors file for which keep(name, info) is true."""
    raw = read(path)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out_header, out_body = {}, b""
    meta = header.pop("__metadata__", None)
    if metadata is not None:
        meta = metadata
    if meta:
        out_header["__metadata__"] = meta
    for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        info = header[name]
        if not keep(name, info):
            continue
        b, e = info["data_offsets"]
        out_header[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [len(out_body), len(out_body) + e - b]}
        out_body += body[b:e]
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + out_body


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "/tmp/seedrun"
    project = sys.argv[2] if len(sys.argv) > 2 else None
    pre, ft = os.path.join(run, "pre"), os.path.join(run, "ft")
    shutil.rmtree(OUT, ignore_errors=True)

    # config: the runs' config.json (pretraining; fine-tuning with its head), the CLI input.
    put("config", "pretrain-config.json", read(os.path.join(pre, "config.json")))
    put("config", "finetune-config.json", read(os.path.join(ft, "config.json")))
    put("config", "cli-config.json", read(os.path.join(run, "cfg.json")))

    # grid: the shipped paper grids.
    for g in sorted(os.listdir(os.path.join(ROOT, "resources", "grids"))):
        put("grid", g, read(os.path.join(ROOT, "resources", "grids", g)))

    # glue: byte 0 = task (order of glue_task_names()), byte 1 = split index, then the file's head.
    tasks = ["CoLA", "SST-2", "MRPC", "QQP", "STS-B", "MNLI", "QNLI", "RTE", "WNLI", "AX"]
    splits = {"AX": ["diagnostic"], "MNLI": ["train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"]}
    for ti, task in enumerate(tasks):
        folder = os.path.join(SHARED, "glue", "diagnostic" if task == "AX" else task)
        for si, split in enumerate(splits.get(task, ["train", "dev", "test"])):
            f = os.path.join(folder, split + ".tsv")
            if os.path.exists(f):
                put("glue", "%s-%s.tsv" % (task, split), bytes([ti, si]) + head_lines(read(f), 1500))

    # corpus: heads of the demo corpus, WikiText and books; the same real text re-encoded as
    # ISO-8859-1 (invalid UTF-8), with a BOM and CRLF line ends.
    put("corpus", "demo.txt", head_lines(read(os.path.join(ROOT, "resources", "demo", "corpus.txt")), 3000))
    wiki = read(os.path.join(SHARED, "corpus", "wikitext-2", "wiki.valid.tokens"))
    put("corpus", "wiki-valid.tokens", head_lines(wiki, 3000))
    for book in ["austen-emma.txt", "blake-poems.txt", "melville-moby_dick.txt"]:
        put("corpus", book, head_lines(read(os.path.join(SHARED, "corpus", "gutenberg-nltk", book)), 2000))
    text = wiki.decode("utf-8")
    i = next(k for k, ch in enumerate(text) if ord(ch) > 127 and ord(ch) < 256)
    snippet = text[max(0, i - 800) : i + 800]
    put("corpus", "wiki-latin1.txt", snippet.encode("latin-1", errors="replace"))
    put("corpus", "wiki-bom-crlf.txt", b"\xef\xbb\xbf" + snippet.replace("\n", "\r\n").encode("utf-8"))

    # safetensors: the real RNG state; real model and optimizer tensors (the small ones, and all
    # dtypes the run wrote), re-packed; one with a different metadata block.
    ck = os.path.join(pre, "checkpoints", "ckpt-00000012")
    put("safetensors", "rng.safetensors", read(os.path.join(ck, "rng.safetensors")))
    put("safetensors", "model-small-tensors.safetensors",
        safetensors_subset(os.path.join(ck, "model.safetensors"), lambda n, i: numel(i["shape"]) <= 64))
    put("safetensors", "optimizer-steps.safetensors",
        safetensors_subset(os.path.join(ck, "optimizer.safetensors"), lambda n, i: n.startswith("step/") or numel(i["shape"]) <= 16))
    put("safetensors", "finetune-head.safetensors",
        safetensors_subset(os.path.join(ft, "best", "model.safetensors"),
                           lambda n, i: n.startswith("head") or n.startswith("pool"), {"format": "pt", "note": "subset"}))
    # Every dtype the reader knows, tiny (values from the real RNG state's bytes).
    rng = read(os.path.join(ck, "rng.safetensors"))[-64:]
    hdr, body = {}, b""
    for dt, size in [("F64", 8), ("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2), ("I8", 1), ("U8", 1)]:
        hdr[dt.lower()] = {"dtype": dt, "shape": [2, 2], "data_offsets": [len(body), len(body) + 4 * size]}
        body += rng[: 4 * size]
    hdr["bool"] = {"dtype": "BOOL", "shape": [3], "data_offsets": [len(body), len(body) + 3]}
    body += b"\x01\x00\x01"
    hdr["empty"] = {"dtype": "F32", "shape": [0, 3], "data_offsets": [len(body), len(body)]}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    put("safetensors", "all-dtypes.safetensors", struct.pack("<Q", len(h)) + h + body)

    # tokenizer: the run's model (as `mabert tokenizer train` writes it, with the NFKC
    # normalisation map), and small ones spm_train builds with the same special tokens.
    put("tokenizer", "run-unigram-300.model", read(os.path.join(pre, "tokenizer.model")))
    if shutil.which("spm_train"):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "in.txt")
            with open(src, "wb") as f:
                f.write(head_lines(read(os.path.join(ROOT, "resources", "demo", "corpus.txt")), 60000))
            for kind, vocab in [("unigram", 90), ("bpe", 100)]:
                subprocess.run(["spm_train", "--input=" + src, "--model_prefix=" + os.path.join(tmp, kind),
                                "--vocab_size=%d" % vocab, "--model_type=" + kind, "--normalization_rule_name=identity",
                                "--pad_id=0", "--unk_id=1", "--bos_id=-1", "--eos_id=-1", "--pad_piece=[PAD]",
                                "--unk_piece=[UNK]", "--control_symbols=[CLS],[SEP],[MASK]", "--hard_vocab_limit=false",
                                "--minloglevel=2"], check=True, capture_output=True)
                put("tokenizer", "spm-%s-%d-identity.model" % (kind, vocab), read(os.path.join(tmp, kind + ".model")))

    # registry: the runs' database, and its rows in the driver's text form.
    db = os.path.join(run, "runs.db")
    put("registry", "runs.db", read(db))
    con = sqlite3.connect(db)
    rows = con.execute("SELECT id, kind, task, status, created, updated, config, metrics FROM runs").fetchall()
    con.close()
    lines = ["\t".join("\\N" if v is None else str(v) for v in r) for r in rows]
    put("registry", "rows.tsv", "\n".join(lines) + "\n")

    # metrics: both runs' logs, and one torn by a kill in mid-write.
    m = read(os.path.join(pre, "metrics.jsonl"))
    put("metrics", "pretrain-metrics.jsonl", m)
    put("metrics", "finetune-metrics.jsonl", read(os.path.join(ft, "metrics.jsonl")))
    put("metrics", "torn-metrics.jsonl", m[: len(m) - 40])

    # project: a session the studio saved; the same with a run selected and no analysis section.
    if project:
        p = read(project)
        put("project", "studio-session.mabert.json", p)
        j = json.loads(p)
        j["run"] = os.path.join(run, "ft")
        j.pop("analysis", None)
        put("project", "with-run.mabert.json", json.dumps(j, indent=2) + "\n")

    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print("seeds written to %s: %d bytes" % (OUT, total))


if __name__ == "__main__":
    main()
