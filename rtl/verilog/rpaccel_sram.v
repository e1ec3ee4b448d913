// rpaccel_sram: behavioural model of a synchronous SRAM macro with one read and one write port.
//
// The Amaranth designs instantiate the large operand/accumulator buffers as this macro (an
// Amaranth `Instance`), as a real flow instantiates memory-compiler output. Amaranth 0.5
// memories spell out an initial value for every word, which makes Verilog generation quadratic
// in depth (34 s at 64 Ki words, 390 s at 256 Ki words, measured); a macro costs nothing.
//
// Read: registered; `rdata` takes mem[raddr] at the clock edge when `re` is high and holds
// otherwise (one cycle latency). Write: mem[waddr] <= wdata at the clock edge when `we` is high.
// A read and a write of the same address on one edge return the old word (read-first).
// Contents are undefined after power-up; the designs never read a word before writing it.
module rpaccel_sram #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 16,
  parameter int ABITS = 4
) (
  input  wire             clk,
  input  wire             re,
  input  wire [ABITS-1:0] raddr,
  output reg  [WIDTH-1:0] rdata,
  input  wire             we,
  input  wire [ABITS-1:0] waddr,
  input  wire [WIDTH-1:0] wdata
);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    if (re) rdata <= mem[raddr];
  end
endmodule

// rpaccel_sram_2r: the same macro with a second, independent read port (`re2`/`raddr2`/`rdata2`,
// same timing as the first). Used for the GEMM engine's C buffer with double buffering: the
// accumulator's read-modify-write and the output drain read it on the same cycle.
module rpaccel_sram_2r #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 16,
  parameter int ABITS = 4
) (
  input  wire             clk,
  input  wire             re,
  input  wire [ABITS-1:0] raddr,
  output reg  [WIDTH-1:0] rdata,
  input  wire             re2,
  input  wire [ABITS-1:0] raddr2,
  output reg  [WIDTH-1:0] rdata2,
  input  wire             we,
  input  wire [ABITS-1:0] waddr,
  input  wire [WIDTH-1:0] wdata
);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    if (re) rdata <= mem[raddr];
    if (re2) rdata2 <= mem[raddr2];
  end
endmodule
