"""The query compiler: a pipeline on an accelerator config -> command streams
(:mod:`rpaccel.isa`), with every placement checked (:func:`rpaccel.query.place`: array mode,
rows, weights, embeddings, filters).
"""

from __future__ import annotations

from dataclasses import dataclass

from rpaccel.accel import AccelConfig
from rpaccel.query import Pipeline, Placement, StagePlan, host_beats, place
from rpaccel.config import ceil_div

from rpaccel.isa import Command
from .query import table_base

__all__ = ["compile_query", "Program", "command_fields", "program_words"]


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
    pipeline = pipeline.accel_program()
    pl = place(accel, pipeline, sub_batch, policy)
    plans = pl.plans
    S = len(plans)
    eng = accel.group_array(pl.split)
    lanes = accel.embedding.lanes
    item_bytes = pipeline.record_bytes
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
            m = st.spec
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
                    "beats": plan.sub_batch * ceil_div(m.lookups, lanes), "slot": G % 2},
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
