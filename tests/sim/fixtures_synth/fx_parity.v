// Parity of 32 registered bits into a register, without and with a pipeline register in the middle.
// With 4-input LUTs an n-input XOR needs at least ceil((n - 1) / 3) LUTs and ceil(log4(n)) levels:
// fx_parity32 11 LUTs in 3 levels; fx_parity32p two 16-bit halves (5 LUTs, 2 levels each), registered,
// then one LUT: 11 LUTs, 2 levels.
module fx_parity32 (
    input  wire        clk,
    input  wire [31:0] d,
    output reg         p
);
    reg [31:0] q;
    always @(posedge clk) begin
        q <= d;
        p <= ^q;
    end
endmodule

module fx_parity32p (
    input  wire        clk,
    input  wire [31:0] d,
    output reg         p
);
    reg [31:0] q;
    reg [1:0]  h;
    always @(posedge clk) begin
        q <= d;
        h <= {^q[31:16], ^q[15:0]};
        p <= ^h;
    end
endmodule
