"""cocotb testbenches and the Verilator runner. Needs the ``hw`` extra."""
