"""The query compiler: a pipeline on an accelerator config -> command streams
(:mod:`rpaccel.isa`), with every placement checked.

Placement (checked here; a violation is a one-line ``ValueError`` naming the field):

* **Array mode.** A one-stage pipeline with ``subarrays = 0`` runs on the whole array
  (monolithic mode); otherwise the array runs split and stage s owns ``subarrays[s]`` consecutive
  sub-arrays (stage 0 first), at most the grid's ``GR * GC`` in all.
* **Rows.** A stage's sub-batch of ``B_s`` candidates is cut into ``ceil(B_s / g)``-row chunks,
  one per sub-array of its group of g (the last smaller, or empty); every sub-array runs every
  layer on its chunk, in lockstep. Chunk rows <= ``array.max_m``, layer K <= ``max_k``, N <=
  ``max_n``.
* **Weights.** Every layer of a stage's model is stored once in the weight memory of each
  sub-array of its group (``k_tiles * n_tiles * cols`` words per layer, layer after layer);
  a model whose words exceed ``weight_bytes`` cannot be placed: compile error (no spilling).
  Biases: ``n_tiles`` words of ``cols`` int32 per layer, layer after layer (``bbase``).
* **Embeddings.** Stage s's tables are the unit's tables ``sum_{r<s} T_r ..``; their total <=
  ``embedding.tables``; ``d_s <= embedding.dim``; the unit's way partition has one entry (shared
  by every stage) or one per stage.
* **Filters.** Each stage's top-k unit keeps at most ``topk.k_max`` (global: ``items[s+1]``;
  per-sub-batch: the quota; last stage: ``k_out``); candidates per query <= ``max_items``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpaccel.accel import ID_BYTES, AccelConfig, Pipeline
from rpaccel.config import ceil_div

from rpaccel.isa import Command
from .query import StagePlan, host_beats, stage_plan, table_base

__all__ = ["compile_query", "Program", "Placement", "place", "command_fields", "program_words"]


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: ``split`` mode, each stage's sub-arrays (first index, count),
    rows per sub-array chunk, each layer's weight-memory base word, and the plans."""

    split: bool
    groups: tuple[tuple[int, int], ...]
    chunk_rows: tuple[int, ...]
    wbase: tuple[tuple[int, ...], ...]
    weight_words: tuple[int, ...]
    bbase: tuple[tuple[int, ...], ...]
    plans: tuple[StagePlan, ...]
    cache_stage: tuple[int, ...]


def place(accel: AccelConfig, pipeline: Pipeline, sub_batch: int | None = None,
          policy: str | None = None) -> Placement:
    """Check that the pipeline fits the accelerator and place it (module docstring)."""
    plans = stage_plan(pipeline, sub_batch, policy)
    S = len(pipeline.stages)
    subs = [st.subarrays for st in pipeline.stages]
    grid = accel.array.subarrays
    split = not (S == 1 and subs[0] == 0) and accel.array.split != (1, 1)
    if not split:
        if S > 1:
            raise ValueError(f"stage[*].subarrays: a {S}-stage pipeline needs a split array "
                             f"(array.split is 1x1)")
        groups = ((0, 1),)
    else:
        for s, g in enumerate(subs):
            if g < 1:
                raise ValueError(f"stage[{s}].subarrays must be >= 1 on the split array "
                                 f"(0 = the whole array, one-stage pipelines only), got {g}")
        if sum(subs) > grid:
            raise ValueError(f"stage[*].subarrays must sum to at most the array's "
                             f"{accel.array.split[0]}x{accel.array.split[1]} = {grid} "
                             f"sub-arrays, got {sum(subs)}")
        starts = [sum(subs[:s]) for s in range(S)]
        groups = tuple(zip(starts, subs))
    eng = accel.group_array(split)
    if pipeline.items[0] > accel.max_items:
        raise ValueError(f"stage[0].items must be <= max_items={accel.max_items}, got "
                         f"{pipeline.items[0]}")
    emb = accel.embedding
    total_tables = sum(st.model.tables for st in pipeline.stages)
    if total_tables > emb.tables:
        raise ValueError(f"embedding.tables must be >= the stages' {total_tables} tables, got "
                         f"{emb.tables}")
    if emb.stages not in (1, S):
        raise ValueError(f"embedding.stage_ways must have 1 entry or one per stage ({S}), got "
                         f"{list(emb.stage_ways)}")
    chunk, wbase, wwords, bbase = [], [], [], []
    cap = accel.weight_words(split)
    for s, (st, plan) in enumerate(zip(pipeline.stages, plans)):
        m = st.model
        if m.dim > emb.dim:
            raise ValueError(f"stage[{s}].model: d={m.dim} exceeds embedding.dim={emb.dim}")
        g = groups[s][1]
        c = ceil_div(plan.sub_batch, g)
        if c > eng.max_m:
            raise ValueError(f"stage[{s}]: {c} rows per sub-array (sub-batch {plan.sub_batch} "
                             f"over {g} sub-arrays) exceed array.max_m={eng.max_m}")
        base, bases, bb, bbs = 0, [], 0, []
        for mlp, i, k, n in m.layers():
            if k > eng.max_k or n > eng.max_n:
                raise ValueError(f"stage[{s}].model.{mlp}[{i}]: layer {k}x{n} exceeds "
                                 f"array.max_k={eng.max_k} / max_n={eng.max_n}")
            bases.append(base)
            base += eng.k_tiles(k) * eng.n_tiles(n) * eng.cols
            bbs.append(bb)
            bb += eng.n_tiles(n)
        if base > cap:
            raise ValueError(f"stage[{s}].model: its weights need {base} words of "
                             f"{eng.rows * eng.in_width // 8} bytes per (sub-)array, weight_bytes="
                             f"{accel.weight_bytes} holds {cap}: the model cannot be placed")
        k_filter = plan.quota
        if not accel.on_chip_filter and S > 1:
            raise ValueError(f"on_chip_filter = false (host sort) runs one-stage pipelines, got "
                             f"{S} stages")
        if k_filter > accel.topk.k_max and accel.on_chip_filter:
            what = "k_out" if s == S - 1 else (f"stage[{s}]'s per-sub-batch quota"
                                                if plan.per_sub_batch else f"stage[{s + 1}].items")
            raise ValueError(f"{what} = {k_filter} exceeds topk.k_max={accel.topk.k_max}")
        chunk.append(c)
        wbase.append(tuple(bases))
        wwords.append(base)
        bbase.append(tuple(bbs))
    cache_stage = tuple(s if emb.stages == S else 0 for s in range(S))
    return Placement(split, groups, tuple(chunk), tuple(wbase), tuple(wwords), tuple(bbase),
                     tuple(plans), cache_stage)


@dataclass
class Program:
    """Compiled command streams of ``queries`` back-to-back queries: ``commands`` in compile
    order (each queue's commands in its issue order), the placement, and the options."""

    accel: AccelConfig
    pipeline: Pipeline
    placement: Placement
    commands: list[Command]
    queries: int
    sub_batch: int
    policy: str

    def queue(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.queue == name]


def _need(plans: tuple[StagePlan, ...], s: int, j: int) -> int:
    """Emitting filter commands of stage s-1 that stage s's sub-batch j needs (cumulative)."""
    if j < 0:
        return 0
    prev = plans[s - 1]
    if not prev.per_sub_batch:
        return 1
    return ceil_div((j + 1) * plans[s].sub_batch, prev.quota)


def compile_query(accel: AccelConfig, pipeline: Pipeline, sub_batch: int | None = None,
                  policy: str | None = None, *, queries: int = 1) -> Program:
    """Compile ``queries`` back-to-back queries of ``pipeline`` (sub-batch size ``sub_batch``,
    default the pipeline's, else ``items[0]``; filter ``policy``, default the pipeline's) into
    command streams. Raises a one-line ``ValueError`` if the pipeline cannot be placed."""
    from rpaccel.config import check_int

    check_int("queries", queries, 1, 1 << 20)
    pl = place(accel, pipeline, sub_batch, policy)
    plans = pl.plans
    S = len(plans)
    eng = accel.group_array(pl.split)
    lanes = accel.embedding.lanes
    item_bytes = pipeline.dense + ID_BYTES * pipeline.sparse
    # on_chip_filter = false (the TPU-like baseline, model only): the filter unit copies every
    # score to the result buffer and the host receives them all and sorts them
    host = not accel.on_chip_filter
    cmds: list[Command] = []
    # build queue by queue; queues only meet through tokens, so the order between queues in
    # the list is for reading only (host first, then stage by stage, then out)
    for q in range(queries):
        for j in range(plans[0].sub_batches):
            n = plans[0].sub_batch
            pop = {"out": 1} if (q >= 2 and j == 0) else {}
            cmds.append(Command("RECV", "host", {"q": q, "sb": j, "items": n,
                                                 "bytes": n * item_bytes,
                                                 "beats": n * host_beats(
                                                     item_bytes, accel.host_bytes_per_cycle)},
                                pop=pop, push=("g0", "x0")))
        for s, (st, plan) in enumerate(zip(pipeline.stages, plans)):
            m = st.model
            J = plan.sub_batches
            last_stage = s == S - 1
            layers = m.layers()
            nb = len(m.bottom) - 1
            for j in range(J):
                G = q * J + j                      # the stage's sub-batch count across queries
                tot = queries * J
                items_pop = ({"host": 1} if s == 0 else
                             {f"f{s - 1}": _need(plans, s, j) - _need(plans, s, j - 1)})
                # gather
                gp = dict(items_pop)
                if G >= 2:
                    gp[f"x{s}"] = 1
                cmds.append(Command("GATHER", f"g{s}", {
                    "q": q, "s": s, "sb": j, "items": plan.sub_batch, "tables": m.tables,
                    "base": table_base(pipeline, s),
                    "beats": plan.sub_batch * ceil_div(m.tables, lanes), "slot": G % 2},
                    pop=gp, push=(f"x{s}",)))
                # MLP
                rows = pl.chunk_rows[s]
                for li, (mlp, i, k, n) in enumerate(layers):
                    kt = eng.k_tiles(k)
                    src = "items" if li == 0 else ("inter" if li == nb else "act")
                    pop: dict[str, int] = {}
                    push: tuple[str, ...] = ()
                    if li == 0:
                        pop = dict(items_pop)
                    if li == nb:
                        pop = {f"g{s}": 1}
                        if G + 2 < tot:
                            push = (f"g{s}",)
                    cmds.append(Command("LOADA", f"x{s}", {
                        "q": q, "s": s, "sb": j, "layer": li, "src": src, "m": rows, "k": k,
                        "kt": kt, "words": rows * kt}, pop=pop, push=push))
                    final = li == len(layers) - 1
                    dst = "score" if final else ("inter" if li == nb - 1 else "act")
                    pop, push = {}, ()
                    if final:
                        if G >= 2:
                            pop = {f"f{s}": 1}
                        push = (f"f{s}",)
                        # the last reader of the candidate list of query q frees its slot for
                        # query q + 2's survivors of the stage before
                        if s > 0 and j == J - 1 and q + 2 < queries:
                            push = push + (f"f{s - 1}",)
                    cmds.append(Command("GEMM", f"x{s}", {
                        "q": q, "s": s, "sb": j, "layer": li, "m": rows, "k": k, "n": n,
                        "wbase": pl.wbase[s][li], "bbase": pl.bbase[s][li],
                        "shift": 0 if final else _shift(m, li),
                        "relu": not final, "dst": dst}, pop=pop, push=push))
            # filter
            for j in range(J):
                G = q * J + j
                tot = queries * J
                ends = plan.per_sub_batch or j == J - 1
                pop = {f"x{s}": 1}
                first_emit = j == (0 if plan.per_sub_batch else J - 1)
                if first_emit and q >= 2:
                    # query q-2 has read its slot: stage s+1's candidate list, or the results
                    pop[f"x{s + 1}" if s < S - 1 else "out"] = 1
                push = (f"x{s}",) if G + 2 < tot else ()
                if ends:
                    push = push + ((f"g{s + 1}", f"x{s + 1}") if s < S - 1 else ("out",))
                cmds.append(Command("TOPK", f"f{s}", {
                    "q": q, "s": s, "sb": j, "n": plan.sub_batch,
                    "k": plan.quota if ends else 0, "last": ends, "host": host,
                    "dst": "results" if last_stage else f"cand{s + 1}"}, pop=pop, push=push))
        rb = accel.result_bytes()
        k_send = pipeline.items[-1] if host else pipeline.k_out
        cmds.append(Command("SEND", "out", {"q": q, "k": k_send,
                                            "bytes": k_send * rb,
                                            "beats": k_send * host_beats(
                                                rb, accel.host_bytes_per_cycle)},
                            pop={f"f{S - 1}": 1},
                            push=("host", f"f{S - 1}") if q + 2 < queries else ()))
    return Program(accel, pipeline, pl, cmds, queries, plans[0].sub_batch,
                   policy or pipeline.filter)


def _shift(model, li: int) -> int:
    from .query import layer_shift

    return layer_shift(model.layers()[li][2])


def command_fields(prog: Program, cmd: Command) -> dict[str, int]:
    """The operands of ``cmd`` in the command word's field names (:func:`rpaccel.isa.
    command_layout`): what the RTL's controller reads."""
    from rpaccel.isa import DST_CODES, SRC_CODES

    a = cmd.args
    pl = prog.placement
    f: dict[str, int] = {"qslot": a["q"] % 2}
    if cmd.op == "RECV":
        f.update(items=a["items"], offset=a["sb"] * a["items"])
    elif cmd.op == "SEND":
        f.update(k=a["k"])
    else:
        s = a["s"]
        plan = pl.plans[s]
        G = a["q"] * plan.sub_batches + a["sb"]
        f.update(slot=G % 2, offset=a["sb"] * plan.sub_batch)
        if cmd.op == "GATHER":
            f.update(items=a["items"], tables=a["tables"], base=a["base"])
        elif cmd.op == "LOADA":
            f.update(layer=a["layer"], src=SRC_CODES[a["src"]], m=a["m"], words=a["words"],
                     kt=a["kt"])
        elif cmd.op == "GEMM":
            eng = prog.accel.group_array(pl.split)
            f.update(layer=a["layer"], m=a["m"], kt=eng.k_tiles(a["k"]), nt=eng.n_tiles(a["n"]),
                     wbase=a["wbase"], bbase=a["bbase"], shift=a["shift"], relu=int(a["relu"]),
                     dst=DST_CODES[a["dst"]])
        elif cmd.op == "TOPK":
            f.update(n=a["n"], k=a["k"], last=int(a["last"]),
                     emit=a["sb"] * plan.quota if plan.per_sub_batch else 0)
    return f


def program_words(prog: Program) -> dict[str, list[int]]:
    """Each queue's command words, in issue order (the RTL's command memories)."""
    from rpaccel.isa import encode, queue_links

    links = queue_links(len(prog.pipeline.stages))
    out: dict[str, list[int]] = {q: [] for q in links}
    for c in prog.commands:
        out[c.queue].append(encode(c, links, command_fields(prog, c)))
    return out
