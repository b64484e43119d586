// One TMR replica of the protected bits of a weight word (hand-written primitive used by the generated RTL).
// A module of its own, kept as hierarchy, so that synthesis cannot merge the three identical replicas into one
// register (Yosys' opt_merge would, keep attributes notwithstanding). Loaded through the weight port like any word.
`timescale 1ns/1ps
(* keep_hierarchy *)
module tmr_ff #(
  parameter W = 1
) (
  input  wire         clk,
  input  wire         en,
  input  wire [W-1:0] d,
  output reg  [W-1:0] q
);
  always @(posedge clk) begin
    if (en) q <= d;
  end
endmodule
