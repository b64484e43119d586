// Bitwise 2-of-3 majority voter for TMR-protected weight bits (hand-written primitive used by the generated RTL).
// err is high while any replica disagrees: an upset that a scrubber could repair before a second one defeats TMR.
`timescale 1ns/1ps
module tmr_vote #(
  parameter W = 1
) (
  input  wire [W-1:0] a,
  input  wire [W-1:0] b,
  input  wire [W-1:0] c,
  output wire [W-1:0] y,
  output wire         err
);
  assign y = (a & b) | (a & c) | (b & c);
  assign err = |((a ^ b) | (a ^ c));
endmodule
