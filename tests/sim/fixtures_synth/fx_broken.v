// Deliberately broken: a syntax error on line 7.
module fx_broken (
    input  wire a,
    input  wire b,
    output wire y
);
    assign y = a & ;
endmodule
