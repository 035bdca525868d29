// Registered 16-bit adder: s <= a + b (sum truncated to 16 bits), inputs straight from the ports.
module fx_adder16 (
    input  wire        clk,
    input  wire [15:0] a,
    input  wire [15:0] b,
    output reg  [15:0] s
);
    always @(posedge clk) s <= a + b;
endmodule
