"""Issue 4, part 2: contrastive (SetFit-style) fine-tuning of the encoder, frozen vs tuned.

    python scripts/experiment_finetune.py --out /tmp/ft.json

What it measures, on the same folds as ``goalmatch evaluate`` (seed 0, stratified 5-fold):

1. ``goalmatch + fine-tuned encoder``: in every training fold a copy of the top
   ``--layers`` transformer layers of multilingual-e5-small is tuned contrastively on pairs
   from that fold only (strategy text ~ strategy text of the same goal, training project ~
   strategy text of its goal, project ~ project of the same goal; in-batch negatives with
   same-goal negatives masked), then the framework's strategy texts, the fold's texts and
   the unlabelled project texts are re-encoded with it and the normal GoalClassifier is
   fitted (``goalmatch_method()``), so the only difference to ``goalmatch`` is the encoder.
2. One learning-curve point: 2 labelled projects per goal (the same draw as evaluate()'s
   curve), frozen vs tuned on those alone.
3. Transfer: tuned once on RUS (strategy texts + labelled projects, minus every record that
   is also labelled for the target framework, so no target text is seen), then frozen vs
   tuned, zero-shot and with projects, on the national strategy, Polaris (and Agenda 2030).

CPU design: the lower ``12 - layers`` layers stay frozen, so their outputs are computed once
per distinct text (the same tokenisation, "query: " prefix and 512-token limit as
``goalmatch.embed.encoder.Encoder``) and only the top layers run in tuning and re-encoding; mean
pooling and L2 normalisation as in the e5 folder. With the untuned layers this reproduces
the frozen encoder (checked at start-up). Word embeddings and lower layers are not tuned.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import goalmatch
from goalmatch.embed.e5build import ensure_e5_small
from goalmatch.embed.encoder import Encoder
from goalmatch.evaluation.baselines import Context, Part, Prediction, goalmatch_method
from goalmatch.evaluation.crossval import _part, _sample, _score, _splits, _summary, _unlabelled, evaluate
from goalmatch.model.classifier import goal_texts

PREFIX = "query: "  # as goalmatch.embed.encoder.Encoder
SINGLE = ("rus-norrbotten-2030", "nationell-strategi-2021", "leader-polaris-2016")
SOURCE = "rus-norrbotten-2030"
KEYS = ("macro_f1", "top1", "top3", "ece", "nll", "micro_f1", "hit_at_1", "answered", "accuracy_answered")


def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


class Backbone:
    """multilingual-e5-small split in two: frozen lower layers (outputs cached per text) and
    the top ``n_top`` layers, which are copied and tuned."""

    def __init__(self, n_top: int, state_file: Path | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.st = SentenceTransformer(str(ensure_e5_small()), device="cpu", local_files_only=True)
        self.st.eval()
        self.bert = self.st[0].auto_model
        self.tok = self.st.tokenizer
        self.max_len = 512
        self.n_top = n_top
        self.split = len(self.bert.encoder.layer) - n_top
        self.base_layers = torch.nn.ModuleList(self.bert.encoder.layer[self.split:])
        self.states: dict[str, torch.Tensor] = {}
        self.state_file = state_file
        if state_file is not None and state_file.is_file():
            self.states = torch.load(state_file)
            log(f"read {len(self.states)} cached lower-layer states from {state_file}")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.split}|{text}".encode()).hexdigest()

    @torch.no_grad()
    def prepare(self, texts: list[str], batch: int = 16) -> None:
        """Cache the output of the frozen lower layers (the input of layer ``split``)."""
        todo = sorted({t for t in texts if self._key(t) not in self.states}, key=len)
        if not todo:
            return
        t0 = time.time()
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            enc = self.tok([PREFIX + t for t in chunk], padding=True, truncation=True, max_length=self.max_len,
                           return_tensors="pt")
            out = self.bert(**enc, output_hidden_states=True)
            hidden = out.hidden_states[self.split]
            for j, text in enumerate(chunk):
                n = int(enc["attention_mask"][j].sum())
                self.states[self._key(text)] = hidden[j, :n].clone()
        log(f"lower-layer states for {len(todo)} texts in {time.time() - t0:.0f} s")
        if self.state_file is not None:
            torch.save(self.states, self.state_file)

    def forward(self, layers: torch.nn.ModuleList, texts: list[str], max_tokens: int | None = None) -> torch.Tensor:
        """Unit embeddings of ``texts`` through ``layers`` (mean pooling, L2-normalised)."""
        seqs = [self.states[self._key(t)] for t in texts]
        if max_tokens is not None:
            seqs = [s[:max_tokens] for s in seqs]
        n = max(len(s) for s in seqs)
        hidden = torch.zeros(len(seqs), n, seqs[0].shape[1])
        mask = torch.zeros(len(seqs), n, dtype=torch.long)
        for i, s in enumerate(seqs):
            hidden[i, :len(s)] = s
            mask[i, :len(s)] = 1
        att = self.bert._create_attention_masks(attention_mask=mask, encoder_attention_mask=None,
                                                embedding_output=hidden, encoder_hidden_states=None,
                                                past_key_values=None)[0]
        for layer in layers:
            hidden = layer(hidden, att)
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    @torch.no_grad()
    def encode(self, layers: torch.nn.ModuleList, texts: list[str], batch: int = 32) -> np.ndarray:
        self.prepare(texts)
        layers.eval()
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), batch):
            idx = order[i:i + batch]
            out[idx] = self.forward(layers, [texts[j] for j in idx]).numpy()
        return out


class TunedEncoder:
    """``encode(texts)`` through a set of (tuned) top layers; usable as evaluate()'s encoder."""

    prefix = PREFIX

    def __init__(self, backbone: Backbone, layers: torch.nn.ModuleList, name: str) -> None:
        self.backbone, self.layers, self.id, self.checksum = backbone, layers, name, name
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Any) -> np.ndarray:
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            self.memo.update(zip(missing, self.backbone.encode(self.layers, missing), strict=True))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


def make_batches(strategy: list[str], s_goal: np.ndarray, projects: list[str], p_goal: np.ndarray,
                 steps: int, batch: int, rng: np.random.Generator) -> list[list[tuple[str, str, int]]]:
    """``steps`` batches of ``batch`` (anchor, positive, goal) pairs, one kind per batch in
    turn (so short strategy texts are not padded to project length): strategy ~ strategy
    text of the same goal; project ~ strategy text of its goal; project ~ project of the
    same goal (project ~ strategy where the goal has one project only)."""
    by_s: dict[int, list[int]] = {}
    for i, g in enumerate(s_goal):
        by_s.setdefault(int(g), []).append(i)
    by_p: dict[int, list[int]] = {}
    for i, g in enumerate(p_goal):
        by_p.setdefault(int(g), []).append(i)
    usable = [i for i, g in enumerate(p_goal) if int(g) in by_s]
    kinds = ["ss", "ps", "pp"] if usable else ["ss"]
    out = []
    for step in range(steps):
        kind, pairs = kinds[step % len(kinds)], []
        while len(pairs) < batch:
            if kind == "ss":
                a = int(rng.integers(len(strategy)))
                g = int(s_goal[a])
                b = int(rng.choice([j for j in by_s[g] if j != a] or [a]))
                pairs.append((strategy[a], strategy[b], g))
                continue
            a = usable[int(rng.integers(len(usable)))]
            g = int(p_goal[a])
            others = [j for j in by_p[g] if j != a]
            if kind == "pp" and others:
                pairs.append((projects[a], projects[int(rng.choice(others))], g))
            else:
                pairs.append((projects[a], strategy[int(rng.choice(by_s[g]))], g))
        out.append(pairs)
    return out


def tune(backbone: Backbone, strategy: list[str], s_goal: np.ndarray, projects: list[str], p_goal: np.ndarray,
         args: argparse.Namespace, seed: int) -> tuple[torch.nn.ModuleList, dict[str, Any]]:
    """A tuned copy of the top layers: ``args.steps`` steps of ``args.batch`` pairs,
    in-batch negatives (other pairs' positives) with same-goal negatives masked out."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    backbone.prepare(strategy + projects)
    layers = copy.deepcopy(backbone.base_layers)
    layers.train()
    opt = torch.optim.AdamW(layers.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)) *
                                              max(0.0, 1 - s / total))
    batches = make_batches(strategy, s_goal, projects, p_goal, total, args.batch, rng)
    losses = []
    for batch in batches:
        a = backbone.forward(layers, [p[0] for p in batch], args.train_tokens)
        b = backbone.forward(layers, [p[1] for p in batch], args.train_tokens)
        goal = torch.tensor([p[2] for p in batch])
        logits = args.scale * a @ b.T
        same = (goal[:, None] == goal[None, :]) & ~torch.eye(len(batch), dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))
        labels = torch.arange(len(batch))
        loss = (torch.nn.functional.cross_entropy(logits, labels) +
                torch.nn.functional.cross_entropy(logits.T, labels)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    layers.eval()
    info = {"seconds": round(time.time() - t0, 1), "steps": total, "pairs": sum(len(b) for b in batches),
            "strategy_texts": len(strategy), "projects": len(projects),
            "loss_first": round(float(np.mean(losses[:3])), 3), "loss_last": round(float(np.mean(losses[-3:])), 3)}
    return layers, info


class FineTuned:
    """The method ``goalmatch + fine-tuned encoder`` (see the module docstring)."""

    def __init__(self, backbone: Backbone, args: argparse.Namespace, unlabelled_texts: dict[str, list[str]]) -> None:
        self.backbone, self.args, self.unlabelled_texts = backbone, args, unlabelled_texts
        self.log: list[dict[str, Any]] = []
        self.fold = 0
        self.frozen = goalmatch_method()

    def __call__(self, ctx: Context, train: Part, test: Part) -> Prediction:
        fw = ctx.framework
        t0 = time.time()
        strategy, s_goal, _ = goal_texts(fw)
        if set(test.texts) & set(train.texts):
            raise AssertionError("a test text is in the training fold")
        layers, info = tune(self.backbone, strategy, s_goal, list(train.texts), train.primary, self.args,
                            seed=self.args.tune_seed + self.fold)
        self.fold += 1
        enc = TunedEncoder(self.backbone, layers, f"tuned-{fw.id}-{self.fold}")
        unl_texts = self.unlabelled_texts[fw.id]
        t1 = time.time()
        E_unl = enc.encode(unl_texts).astype(np.float64)
        tuned_train = Part(list(train.texts), enc.encode(train.texts).astype(np.float64), train.Y, train.primary,
                           train.ids)
        tuned_test = Part(list(test.texts), enc.encode(test.texts).astype(np.float64), test.Y, test.primary, test.ids)
        ctx2 = Context(fw, enc, E_unl, params=dict(ctx.params))
        ctx2.strategy()  # encodes the strategy texts with the tuned layers
        encode_s = time.time() - t1
        pred = self.frozen(ctx2, tuned_train, tuned_test)
        # how far the tuning moved the embeddings (mean cosine to the frozen ones, test texts)
        drift = float(np.mean(np.sum(tuned_test.E * test.E, axis=1))) if len(test) else None
        info.update({"framework": fw.id, "train": len(train), "test": len(test), "reencode_seconds": round(encode_s, 1),
                     "fold_seconds": round(time.time() - t0, 1),
                     "test_cos_to_frozen": None if drift is None else round(drift, 4)})
        self.log.append(info)
        log(f"{fw.id} fold {self.fold}: tuned in {info['seconds']} s, fold {info['fold_seconds']} s, "
            f"loss {info['loss_first']} -> {info['loss_last']}, cos to frozen {info['test_cos_to_frozen']}")
        return pred


def brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary["mean"][k] for k in KEYS if k in summary["mean"]} | {
        "std": {k: summary["std"][k] for k in KEYS if k in summary["std"]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file for every figure")
    ap.add_argument("--frameworks", nargs="+", default=list(SINGLE), help="single-label frameworks to cross-validate")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--layers", type=int, default=1, help="top transformer layers tuned (of 12)")
    ap.add_argument("--steps", type=int, default=15, help="optimiser steps per tuning")
    ap.add_argument("--batch", type=int, default=16, help="pairs per step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--scale", type=float, default=20.0, help="logit scale (1 / temperature)")
    ap.add_argument("--train-tokens", type=int, default=128, help="tokens per text seen in tuning")
    ap.add_argument("--seed", type=int, default=0, help="fold seed (as evaluate())")
    ap.add_argument("--tune-seed", type=int, default=0, help="seed of the pair sampling and torch in tuning")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gm-emb-cache"))
    ap.add_argument("--states", type=Path, default=Path("/tmp/ftexp/states.pt"), help="lower-layer state cache")
    ap.add_argument("--stages", default="cv,transfer,curve", help="which of cv, transfer, curve to run (in that order)")
    ap.add_argument("--transfer", nargs="+", default=["leader-polaris-2016", "nationell-strategi-2021"],
                    help="frameworks for the transfer test (agenda-2030 possible)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    stages = set(args.stages.split(","))
    fws = goalmatch.frameworks()
    records = goalmatch.load_corpora()
    result: dict[str, Any] = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                              "cv": {}, "curve_2_per_goal": {}, "transfer": {}, "tunings": []}
    args.states.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))

    t0 = time.time()
    backbone = Backbone(args.layers, args.states)
    needed = [r.text for r in records] + [t for f in {*args.frameworks, *args.transfer, SOURCE}
                                          for t in goal_texts(fws[f])[0]]
    backbone.prepare(list(dict.fromkeys(needed)))
    # the split model with untuned layers must reproduce the frozen encoder
    probe = [r.text for r in records[:4]] + goal_texts(fws[SOURCE])[0][:4]
    cos = np.sum(backbone.encode(backbone.base_layers, probe) * Encoder().encode(probe), axis=1)
    result["settings"]["check_min_cos_untuned_vs_frozen"] = round(float(cos.min()), 6)
    log(f"set-up {time.time() - t0:.0f} s; untuned split model vs Encoder: min cosine {cos.min():.6f}")
    if cos.min() < 0.999:
        raise SystemExit("the split model does not reproduce the frozen encoder")
    unl_texts = {f: [r.text for r in records if not r.labels_for(f)] for f in fws}
    method = FineTuned(backbone, args, unl_texts)

    if "cv" in stages:
        for fid in args.frameworks:
            t1 = time.time()
            rep = evaluate({fid: fws[fid]}, records, folds=args.folds, repeats=1, seed=args.seed, progress=True,
                           cache_dir=args.cache,
                           methods={"goalmatch": goalmatch_method(), "goalmatch + fine-tuned encoder": method})
            entry = rep.metrics["frameworks"][fid]
            result["cv"][fid] = {"labelled": entry["labelled"], "seconds": round(time.time() - t1, 1),
                                 "methods": {n: brief(s) for n, s in entry["methods"].items()},
                                 "frozen_learning_curve": entry["learning_curve"]}
            result["tunings"] = method.log
            save()
            log(f"cv {fid}: " + json.dumps(result["cv"][fid]["methods"]))

    if "transfer" in stages:
        source = fws[SOURCE]
        s_texts, s_goal, _ = goal_texts(source)
        for fid in args.transfer:
            # RUS projects, minus every record also labelled for the target: no target text is tuned on
            src = [r for r in records if r.labels_for(SOURCE) and not r.labels_for(fid)]
            p_goal = np.array([source.goal_ids.index(r.labels_for(SOURCE)[0]) for r in src])
            layers, info = tune(backbone, s_texts, s_goal, [r.text for r in src], p_goal, args,
                                seed=args.tune_seed + 999)
            info.update({"framework": f"transfer {SOURCE} -> {fid}"})
            log(f"transfer tuning for {fid}: {info}")
            enc = TunedEncoder(backbone, layers, f"tuned-on-rus-for-{fid}")
            entry: dict[str, Any] = {"tuned_on_projects": len(src), "tuning": info}
            for label, encoder, cache_dir in (("frozen", None, args.cache), ("tuned on RUS", enc, None)):
                rep = evaluate({fid: fws[fid]}, records, encoder=encoder, folds=args.folds, repeats=1, seed=args.seed,
                               progress=False, cache_dir=cache_dir,
                               methods={"goalmatch zero-shot": goalmatch_method(zero_shot=True),
                                        "goalmatch": goalmatch_method()})
                e = rep.metrics["frameworks"][fid]
                entry[label] = {n: brief(s) for n, s in e["methods"].items()}
                entry[label]["learning_curve"] = e["learning_curve"]
            result["transfer"][fid] = entry
            result["tunings"] = method.log
            save()
            log(f"transfer {fid}: " + json.dumps({k: entry[k] for k in ("frozen", "tuned on RUS")})[:600])
    if "curve" in stages:
        from goalmatch.embed.cache import EmbeddingCache

        cache = EmbeddingCache(Encoder(), args.cache)
        embedded = {r.id: cache.encode([r.text])[0] for r in records}
        n = 2
        for fid in args.frameworks:
            fw = fws[fid]
            rows = [r for r in records if r.labels_for(fid)]
            part = _part(fw, rows, embedded)
            ctx = Context(fw, cache, _unlabelled(records, fid, embedded))
            repeat = _splits(part, args.folds, 1, args.seed)[0]
            rng = np.random.default_rng(args.seed + 1000 * 0 + n)  # as evaluate()'s learning curve
            preds: dict[str, list[Prediction]] = {"goalmatch": [], "goalmatch + fine-tuned encoder": []}
            order, used = [], []
            for train, test in repeat:
                rows_n = _sample(part, train, n, rng, ctx.k)
                used.append(len(rows_n))
                preds["goalmatch"].append(goalmatch_method()(ctx, part.take(rows_n), part.take(test)))
                preds["goalmatch + fine-tuned encoder"].append(method(ctx, part.take(rows_n), part.take(test)))
                order.append(test)
            truth = part.take(np.concatenate(order))
            out = {}
            for name, ps in preds.items():
                pooled = Prediction(np.vstack([p.P for p in ps]), np.vstack([p.predicted for p in ps]), True,
                                    np.concatenate([p.answered for p in ps]))
                out[name] = brief(_summary([_score(ctx, truth, pooled)], {}))
            result["curve_2_per_goal"][fid] = {"labelled_used": round(float(np.mean(used)), 1), "methods": out}
            result["tunings"] = method.log
            save()
            log(f"curve n=2 {fid}: " + json.dumps(out))

    result["total_seconds"] = round(time.time() - t0, 1)
    result["tunings"] = method.log
    save()
    log(f"done in {result['total_seconds']} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
