// Registered signed 12-bit x times the constant 733 (not a power of two, 6 non-zero CSD digits): 23-bit product.
module fx_cmul (
    input  wire               clk,
    input  wire signed [11:0] x,
    output reg  signed [22:0] y
);
    always @(posedge clk) y <= x * 12'sd733;
endmodule
