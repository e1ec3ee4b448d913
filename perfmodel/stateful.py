"""A stateful RPAccel: one accelerator, warm across queries, fed a stream of queries with their
arrival cycles -- the executor (:mod:`rpaccel.perfmodel.executor`), query by query.

:class:`StatefulAccel` is built once from (accelerator config, pipeline). It keeps everything
the hardware keeps between queries: the dynamic cache's tags and LRU order, the static set (and
the weights) resident, the DRAM and MSHR state of the embedding unit, every queue's position
and the tokens between queues -- so the queries in flight. :meth:`~StatefulAccel.submit` adds
a query arriving at a cycle (the host presents none of its beats before); the engine issues
every command that can issue before that cycle first, so a query's outcome is decided only by
the queries that arrived before it and the state they left (the command issued at t is decided
by commands issued before t). The result is the executor's, exactly: arrivals all at cycle 0
give :func:`~rpaccel.perfmodel.executor.model_accel` with ``queries=Q`` (tested), and any
arrivals give ``model_accel(..., arrivals=...)``, which the RTL matches cycle for cycle on
streams (``rpaccel sim accel --gaps``).

**Queries in flight.** The item memory and every candidate list hold two queries: query q's
first host beat waits for query q-2's results to have left (the SEND of q-2 returns the slot to
the host link, a token), the same token the RTL counts. So at most two queries are on the
accelerator; a third waits at the host link and its wait is part of its response time. All other
structural hazards (the shared embedding unit, sub-array groups, the filter units, the link)
are the executor's.

Cycles are absolute: cycle 0 is the first query's arrival (its first beat transfers then if
the link is free). :meth:`~StatefulAccel.save` / :meth:`~StatefulAccel.restore` copy the whole
state, so a warmed-up accelerator serves several runs of a study.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from rpaccel.accel import AccelConfig
from rpaccel.isa import Command
from rpaccel.query import Pipeline

from .compiler import compile_query
from .executor import ExecResult, _Engine, _query_lookups
from .query import QueryInputs, column_rows, model_params, query_inputs

__all__ = ["StatefulAccel", "QueryOutcome"]

#: The latest arrival cycle of a model-only stream (a serving simulation runs for hours of
#: simulated time: 2**62 cycles at 8 ns is 1,170 years). Streams checked against the RTL keep
#: its 32-bit arrival memory's bound (:data:`rpaccel.perfmodel.executor.MAX_ARRIVAL`).
MAX_CYCLE = (1 << 62) - 1


@dataclass(frozen=True)
class QueryOutcome:
    """One finished query (cycles): ``arrival``; ``first_beat`` (its first host beat);
    ``end`` (its last result beat at the host); ``latency = end - first_beat``;
    ``response = end - arrival`` (queueing included); its embedding ``lookups``,
    ``static_hits``, ``dynamic_hits``, ``misses``."""

    query: int
    arrival: int
    first_beat: int
    end: int
    lookups: int
    static_hits: int
    dynamic_hits: int
    misses: int

    @property
    def latency(self) -> int:
        return self.end - self.first_beat

    @property
    def response(self) -> int:
        return self.end - self.arrival


class StatefulAccel:
    """One RPAccel serving a stream of queries (module doc).

    ``sub_batch``, ``policy``: as :func:`~rpaccel.perfmodel.compiler.compile_query`; ``seed``:
    the weights, tables and (by default) query inputs (query q: ``query_inputs(..., seed, q)``,
    the pipeline's workload if it names one); ``timeline``: keep every command's issue and done
    cycles; ``kernel``: the embedding unit's kernel (``numba``: compiled, ``python``: the
    reference); ``compiled``: issue commands with the compiled scheduler
    (:mod:`rpaccel.perfmodel._execkern`; without a timeline) rather than the Python one (the
    reference: the two are tested equal)."""

    def __init__(self, accel: AccelConfig, pipeline: Pipeline, *, sub_batch: int | None = None,
                 policy: str | None = None, seed: int = 0, timeline: bool = False,
                 kernel: str = "numba", compiled: bool = True) -> None:
        pipeline = pipeline.accel_program()
        # q = 0 and 1 as compiled; q >= 2 as query 2 (the first to wait for a slot), relabelled
        self._prog = compile_query(accel, pipeline, sub_batch, policy, queries=5)
        self._first = [[c for c in self._prog.commands if c.args["q"] == q] for q in (0, 1)]
        self._steady = [c for c in self._prog.commands if c.args["q"] == 2]
        self.accel, self.pipeline, self.seed = accel, self._prog.pipeline, seed
        self._params = model_params(self.pipeline, seed) if len(self.pipeline.stages) > 1 \
            else None
        self._feed = None
        self._rows = column_rows(accel, self.pipeline)
        if self.pipeline.workload is not None:
            from .feed import WorkloadFeed

            self._feed = WorkloadFeed(self.pipeline.workload, self.pipeline, accel.embedding,
                                      seed)
        self._engine = _Engine(self._prog, timeline=timeline, host_idle=None, host_stall=None,
                               engine=kernel, compiled=compiled)
        self._next = 0
        self._last_arrival = 0

    @property
    def queries(self) -> int:
        """Queries submitted so far."""
        return self._next

    def _commands(self, q: int) -> list[Command]:
        """Query q's commands: as compiled for queries 0 and 1, query 2's for every later one
        (queued for query q: :meth:`_Engine.add`'s ``query``)."""
        return self._first[q] if q < 2 else self._steady

    def submit(self, arrival: int, inputs: QueryInputs | None = None,
               index: int | None = None) -> int:
        """Add the next query, arriving at cycle ``arrival`` (not before the previous one's);
        ``inputs``: its candidates (default: the seeded inputs of query ``index``, by default
        its position in this accelerator's stream). Returns its position."""
        if isinstance(arrival, bool) or not isinstance(arrival, int) or \
                not self._last_arrival <= arrival <= MAX_CYCLE:
            raise ValueError(f"arrival must be an integer cycle in {self._last_arrival}.."
                             f"{MAX_CYCLE} (arrivals never decrease), got {arrival!r}")
        q = self._next
        if inputs is None:
            # one stage: no forward pass, so no dense features to draw
            inputs = query_inputs(self.pipeline, self._rows, self.seed,
                                  q if index is None else index, self._feed,
                                  dense=len(self.pipeline.stages) > 1)
        looks = _query_lookups(self._prog, q, inputs, self.seed, self._params)
        self._engine.advance(until=arrival)
        self._engine.add(self._commands(q), looks, {q: arrival}, query=q)
        self._next += 1
        self._last_arrival = arrival
        return q

    def run(self, until: int | None = None) -> None:
        """Issue every command that can issue before cycle ``until`` (all: ``None``)."""
        self._engine.advance(until)

    def done(self, q: int) -> bool:
        return q in self._engine.end_q

    def outcome(self, q: int) -> QueryOutcome:
        """Query q's outcome (runs the accelerator until it has finished)."""
        if not 0 <= q < self._next:
            raise ValueError(f"query must be in 0..{self._next - 1}, got {q}")
        if q not in self._engine.end_q:
            self._engine.advance()
        e = self._engine
        pq = e.per_q[q]
        return QueryOutcome(q, e.arrival[q], e.start_q[q], e.end_q[q], pq["lookups"],
                            pq["static_hits"], pq["dynamic_hits"], pq["misses"])

    def finished(self, until: int | None = None) -> list[int]:
        """Queries finished (their last result beat at the host) by cycle ``until`` (all
        finished so far: ``None``), in query order; issues what can issue before ``until``."""
        self._engine.advance(until)
        end = self._engine.end_q
        return sorted(q for q, e in end.items() if until is None or e <= until)

    def unfinished(self, cycle: int) -> list[tuple[int, int | None]]:
        """``(query, first beat or None)`` of every query submitted and not finished by
        ``cycle`` (issues what can issue before it)."""
        self._engine.advance(cycle)
        e = self._engine
        return [(q, e.start_q.get(q)) for q in e.arrival
                if not (q in e.end_q and e.end_q[q] <= cycle)]

    def stage_done(self, q: int, s: int) -> int:
        """The cycle query q's stage s finished (its last filter command done; the last stage:
        its last result beat at the host)."""
        if s == len(self.pipeline.stages) - 1:
            return self.outcome(q).end
        if (q, s) not in self._engine.stage_done or q not in self._engine.end_q:
            self._engine.advance()
        return self._engine.stage_done[(q, s)]

    def forget(self, q: int) -> None:
        """Drop a finished query's records (bounded memory on long streams)."""
        e = self._engine
        if q not in e.end_q:
            raise ValueError(f"query {q} has not finished")
        for d in (e.start_q, e.end_q, e.per_q, e.arrival):
            d.pop(q, None)
        for s in range(len(self.pipeline.stages)):
            e.stage_done.pop((q, s), None)

    def busy(self) -> dict[str, int]:
        """Busy cycles per queue so far."""
        self._engine.fold()
        return {k: v["busy"] for k, v in self._engine.qstat.items()}

    def result(self) -> ExecResult:
        """Everything so far as an :class:`~rpaccel.perfmodel.executor.ExecResult` (runs to
        the end)."""
        self._engine.advance()
        return self._engine.result(list(range(self._next)), self._feed)

    def save(self) -> "StatefulAccel":
        """A copy of the whole state (cache, queues, tokens, counters)."""
        return copy.deepcopy(self)

    def restore(self, saved: "StatefulAccel") -> None:
        """Return to a state from :meth:`save` (the saved copy stays usable)."""
        self.__dict__.update(copy.deepcopy(saved).__dict__)
