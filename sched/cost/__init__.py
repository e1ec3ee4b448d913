"""What serving costs: the energy of a query from the executor's event counts priced by a
per-action table, and static power (:mod:`.energy`); the power of a simulated pipeline and its
QPS per watt (:mod:`.power`)."""
