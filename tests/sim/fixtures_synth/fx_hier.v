// Two instances of fx_hier_add8 under one top, to count a hierarchical (unflattened) netlist per instance.
module fx_hier_add8 (
    input  wire       clk,
    input  wire [7:0] a,
    input  wire [7:0] b,
    output reg  [7:0] s
);
    always @(posedge clk) s <= a + b;
endmodule

module fx_hier (
    input  wire       clk,
    input  wire [7:0] a,
    input  wire [7:0] b,
    input  wire [7:0] c,
    output wire [7:0] s0,
    output wire [7:0] s1
);
    fx_hier_add8 u0 (.clk(clk), .a(a), .b(b), .s(s0));
    fx_hier_add8 u1 (.clk(clk), .a(b), .b(c), .s(s1));
endmodule
