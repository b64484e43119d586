// One TMR replica flop of a protected weight bit (hand-written primitive used by the generated RTL).
// A module of its own, kept as hierarchy, so that synthesis cannot merge the three identical replicas into one
// flop (Yosys' opt_merge would, keep attributes notwithstanding). Loaded through the weight port like any word.
`timescale 1ns/1ps
(* keep_hierarchy *)
module tmr_ff (
  input  wire clk,
  input  wire en,
  input  wire d,
  output reg  q
);
  always @(posedge clk) begin
    if (en) q <= d;
  end
endmodule
