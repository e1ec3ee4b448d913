"""RPAccel's command ISA: queues, commands, dependency tokens and the cycle rule of each command.

The controller runs one **command queue** per unit and stage, decoupled access-execute style
(apache/tvm-vta's token queues; Gemmini's command interface), and each queue issues its
commands in order, one at a time:

=========  =====================================================================================
queue      unit
=========  =====================================================================================
``host``   host link, inbound: the query's candidates (dense features + sparse ids) into the
           item memory (two query slots).
``g{s}``   stage s's gathers through the shared embedding unit into its interaction buffer
           (two sub-batch slots).
``x{s}``   stage s's MLP on its sub-array group: loads of the sub-arrays' A buffers and GEMMs
           whose results pass the vector unit (bias, ReLU, shift, saturate) into the activation
           buffer, the interaction buffer or the score buffer (two sub-batch slots).
``f{s}``   stage s's top-k unit: feeds scores, emits survivors (ids, best first) into the next
           stage's candidate list (two query slots) or the result buffer.
``out``    host link, outbound: the ranked ids and scores.
=========  =====================================================================================

Synchronisation: **dependency tokens**. A command may ``push`` a token to other queues when it
completes and ``pop`` tokens from other queues before it issues (a count per producer queue).
For every ordered pair of queues there is a token counter; a command issues on the first cycle
on which every counter it pops holds enough tokens, the previous command of its queue has
completed, and its unit is free (the embedding unit is shared by the ``g`` queues: requests on
the same cycle are granted to the lowest stage; a grant holds until the gather completes). A
token pushed by a command completing on cycle t can be popped from cycle t + 1.

Commands (operands in :class:`Command.args`; t = the issue cycle; "done" = the completion cycle;
the next command of the queue may issue from done + 1 unless said otherwise):

``RECV q sb items bytes beats``
    The host sends stage 0's sub-batch ``sb`` of query q (``items`` candidates of ``D + 4 T_max``
    bytes each, every candidate in its own ``ceil(item_bytes / host_bytes_per_cycle)`` beats:
    ``beats`` in all) on cycles ``t .. t + beats - 1``; they arrive
    ``host_latency`` cycles later: done = ``t + beats - 1 + host_latency``. The link is pipelined:
    the next RECV may issue from ``t + beats``.
``GATHER q s sb items tables base beats slot``
    Looks up the ``tables`` embeddings of each of the sub-batch's ``items`` candidates (stage s's
    tables ``base .. base + tables - 1``) through the embedding unit: the candidates' ids are read
    through the candidate list and the item memory into a prefetch queue, and request beats are
    presented back to back from ``t + GATHER_START``, one candidate per beat group:
    ``ceil(lookups / lanes)`` beats, the last partial (``beats`` in all), where ``lookups =
    sum(pooling)`` is the stage model's sparse ids per item (one per table unless it pools:
    table 0's ids first, then table 1's, ...). Responses (in request order, the unit's reorder
    buffer) are written into interaction-buffer slot ``slot`` on the cycle they transfer; a
    pooled table's rows are summed as they arrive (:func:`rpaccel.query.pool_acc_bits`) and its
    saturated sum is written on the cycle its last row's beat transfers, so pooling adds beats,
    not latency. done = the last response's cycle, from the unit's exact model
    (:func:`rpaccel.perfmodel.embcache.nb_gather`; hit, miss and merge from the cache state).
``LOADA q s sb layer src m k kt words``
    Every sub-array of the stage's group loads its ``m`` rows of the layer's input into its A
    buffer: ``words = m * kt`` words (``kt = ceil(k / rows)``), one per cycle, read from ``src``:
    ``items`` (the dense features, through the candidate list and item memory:
    :data:`ITEM_READ_LATENCY` cycles), ``act`` or ``inter`` (the activation or interaction
    buffer: :data:`BUFFER_READ_LATENCY`). done = ``t + latency + words - 1``.
``GEMM q s sb layer m k n wbase bbase shift relu dst``
    Every sub-array of the group runs ``m x k @ k x n`` on its weights at weight-memory word
    ``wbase``; result beats pass the vector unit (``+ bias``, the bias memory's words from
    ``bbase`` on, one per N-tile; then for ``relu``:
    ``sat(relu(acc) >> shift)``) and are written to ``dst`` :data:`VECTOR_LATENCY` cycle(s)
    after they leave the array. done = ``t + gemm_cycles(m, k, n).total + VECTOR_LATENCY`` (the
    GEMM engine's proven count from command to last result beat,
    :func:`rpaccel.perfmodel.gemm.gemm_cycles`, for the sub-array with the most rows).
``TOPK q s sb n k last dst``
    Feeds the sub-batch's ``n`` scores (with their candidate ids) to the stage's top-k unit:
    ``ceil(n / topk_lanes)`` beats on ``t + 1 ..`` (score-buffer read latency 1). With ``last``
    the beat group ends a filter query and the unit emits its best ``k`` (best first) on the
    following cycles, written to ``dst`` as they transfer: done = ``t + beats + k``; without,
    done = ``t + beats``.
``SEND q k bytes beats``
    Sends the ``k`` ranked (id, score) results, each in its own ``ceil(result_bytes /
    host_bytes_per_cycle)`` beats, on cycles ``t .. t + beats - 1``; the host has
    the last ``host_latency`` cycles later: done = ``t + beats - 1 + host_latency``.

The query's cycle count runs from the host's first RECV beat (cycle 0) to the cycle the host
has the last result beat (the last SEND's done).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rpaccel.config import GEMM_COUNTERS

__all__ = ["Command", "OPS", "ITEM_READ_LATENCY", "GATHER_START", "BUFFER_READ_LATENCY",
           "VECTOR_LATENCY",
           "queue_order", "format_program", "RTL_COUNTERS"]

#: Cycles from reading the candidate list to the item memory's data (two SRAM reads).
ITEM_READ_LATENCY = 2
#: Cycles from a GATHER's issue to its first request beat (candidate list, item memory, prefetch
#: queue).
GATHER_START = 3
#: Cycles from reading the activation / interaction / score buffer to its data.
BUFFER_READ_LATENCY = 1
#: Cycles from a result beat leaving the array to its write into the destination buffer.
VECTOR_LATENCY = 1

OPS = ("RECV", "GATHER", "LOADA", "GEMM", "TOPK", "SEND")


@dataclass
class Command:
    """One command: ``op``, its ``queue``, its operands (``args``, printable), the tokens it
    pops (``{producer queue: count}``) and the queues it pushes one token to."""

    op: str
    queue: str
    args: dict[str, Any]
    pop: dict[str, int] = field(default_factory=dict)
    push: tuple[str, ...] = ()

    def text(self) -> str:
        a = " ".join(f"{k}={_fmt(v)}" for k, v in self.args.items())
        p = " ".join(f"pop:{q}" + (f"x{n}" if n != 1 else "") for q, n in self.pop.items() if n)
        u = " ".join(f"push:{q}" for q in self.push)
        return " ".join(x for x in (f"{self.queue:<5} {self.op:<6}", a, p, u) if x)

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "queue": self.queue, "args": dict(self.args),
                "pop": {q: n for q, n in self.pop.items() if n}, "push": list(self.push)}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def queue_order(stages: int) -> list[str]:
    """Queue names in arbitration priority order."""
    return (["host"] + [f"g{s}" for s in range(stages)] + [f"x{s}" for s in range(stages)]
            + [f"f{s}" for s in range(stages)] + ["out"])


def format_program(commands: list[Command]) -> str:
    """The host program as text: one command per line, in compile order."""
    return "\n".join(f"{i:5d}  {c.text()}" for i, c in enumerate(commands))


# -- binary encoding (the RTL's command memories; one layout for every queue) -------------------
def queue_links(stages: int) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per queue: the queues it may pop tokens from (pop slot order) and push tokens to (push
    bit order). The RTL has one token counter per (producer, consumer) pair listed here."""
    S = stages
    links: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "host": (("out",), ("g0", "x0")),
        "out": ((f"f{S - 1}",), ("host", f"f{S - 1}")),
    }
    for s in range(S):
        src = "host" if s == 0 else f"f{s - 1}"
        links[f"g{s}"] = ((src, f"x{s}"), (f"x{s}",))
        links[f"x{s}"] = ((src, f"g{s}", f"f{s}"), (f"g{s}", f"f{s}") + (
            (f"f{s - 1}",) if s > 0 else ()))
        links[f"f{s}"] = ((f"x{s}", f"x{s + 1}" if s < S - 1 else "out"),
                          (f"x{s}",) + ((f"g{s + 1}", f"x{s + 1}") if s < S - 1 else ("out",)))
    return links


OP_CODES = {op: i for i, op in enumerate(OPS)}
DST_CODES = {"act": 0, "inter": 1, "score": 2}
SRC_CODES = {"items": 0, "act": 1, "inter": 2}


def command_layout():
    """The command word: every operand any op needs (a union-like struct: each op uses its own
    fields and leaves the others zero), the pop counts per pop slot and the push bits."""
    from .layout import Struct, Unsigned

    return Struct([
        ("op", Unsigned(3)), ("slot", Unsigned(1)), ("qslot", Unsigned(1)),
        ("layer", Unsigned(4)), ("items", Unsigned(16)), ("offset", Unsigned(16)),
        ("m", Unsigned(16)), ("words", Unsigned(16)), ("kt", Unsigned(8)), ("nt", Unsigned(8)),
        ("wbase", Unsigned(16)), ("bbase", Unsigned(12)), ("shift", Unsigned(6)),
        ("relu", Unsigned(1)), ("dst", Unsigned(2)), ("src", Unsigned(2)),
        ("tables", Unsigned(8)), ("base", Unsigned(8)), ("n", Unsigned(16)), ("k", Unsigned(16)),
        ("last", Unsigned(1)), ("emit", Unsigned(16)), ("pop0", Unsigned(8)), ("pop1", Unsigned(8)),
        ("pop2", Unsigned(8)), ("push", Unsigned(3)),
    ])


def encode(cmd: Command, links: dict, fields: dict[str, int]) -> int:
    """The command word of ``cmd``: ``fields`` are its operands in the layout's names (the
    compiler's :func:`rpaccel.perfmodel.compiler.command_fields`), plus its tokens."""
    pops, pushes = links[cmd.queue]
    f = {"op": OP_CODES[cmd.op], **fields}
    for q, n in cmd.pop.items():
        if n:
            f[f"pop{pops.index(q)}"] = n
    f["push"] = sum(1 << pushes.index(q) for q in cmd.push)
    return command_layout().pack(f)


#: The event counters the RTL top exposes (port ``counters``, 32 bits each, in this order) and
#: the executor counts under the same names (:class:`rpaccel.perfmodel.executor.ExecResult`
#: ``events``): host-link beats in and out, embedding lookups (valid request slots), pooled
#: outputs (embedding vectors written to the interaction buffers, one per item and table, after
#: summing the table's lookups), DRAM row
#: requests (the embedding unit's misses) and DRAM data beats, items entering the top-k units
#: and their score comparisons (the filters' ``compares`` counters, summed), and at the GEMM
#: engine's ports, summed over the sub-arrays: A words streamed in (every sub-array of a group
#: takes its chunk's words, padding rows included), GEMM commands, and accumulator (C) beats out;
#: and inside the engines, their :data:`rpaccel.config.GEMM_COUNTERS` (A-buffer reads, each
#: streaming one row into the array: ``rows x cols`` PE multiply-accumulates; W-buffer reads;
#: C-buffer reads and writes), summed. The testbench checks them equal on the co-verification
#: matrix; the energy model (:mod:`rpaccel.sched.cost.energy`) prices these counts.
RTL_COUNTERS = ("host_beats_in", "host_beats_out", "lookups", "pooled_outputs",
                "dram_requests", "dram_beats",
                "topk_items", "topk_compares", "a_words", "gemm_commands", "c_beats",
                *GEMM_COUNTERS)
