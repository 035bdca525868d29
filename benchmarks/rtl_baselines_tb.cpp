// Stream test vectors through a baseline's Verilog (top module "model": model_inp -> model_out, and clk when
// pipelined), for benchmarks/rtl.py's bit-exactness check of the da4ml / alkaid designs.
//
//   Vmodel IN_WORDS OUT_WORDS SAMPLES EXTRA_CYCLES inputs.bin outputs.bin
//
// inputs.bin holds SAMPLES packed input buses of IN_WORDS little-endian 32-bit words each (element 0 in the
// low bits).  Every cycle applies the next sample (zeros after the last) and, when clocked, one rising edge;
// the output bus after that edge is written as OUT_WORDS words, SAMPLES + EXTRA_CYCLES rows in all, so the
// caller finds the latency by where the expected outputs appear.  Built with -DCLOCKED for pipelined tops.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "Vmodel.h"
#include "verilated.h"

template <std::size_t N>
static void put(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
static void put(QData& port, const uint32_t* w) { port = static_cast<QData>(w[0]) | (static_cast<QData>(w[1]) << 32); }
static void put(IData& port, const uint32_t* w) { port = w[0]; }
static void put(SData& port, const uint32_t* w) { port = static_cast<SData>(w[0]); }
static void put(CData& port, const uint32_t* w) { port = static_cast<CData>(w[0]); }

template <std::size_t N>
static void get(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}
static void get(QData port, uint32_t* w) {
    w[0] = static_cast<uint32_t>(port);
    w[1] = static_cast<uint32_t>(port >> 32);
}
static void get(IData port, uint32_t* w) { w[0] = port; }
static void get(SData port, uint32_t* w) { w[0] = port; }
static void get(CData port, uint32_t* w) { w[0] = port; }

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s IN_WORDS OUT_WORDS SAMPLES EXTRA_CYCLES inputs.bin outputs.bin\n", argv[0]);
        return 2;
    }
    const std::size_t in_words = std::strtoul(argv[1], nullptr, 10);
    const std::size_t out_words = std::strtoul(argv[2], nullptr, 10);
    const std::size_t samples = std::strtoul(argv[3], nullptr, 10);
    const std::size_t extra = std::strtoul(argv[4], nullptr, 10);
    std::vector<uint32_t> in(in_words * (samples + 1), 0), out(out_words * (samples + extra), 0);
    FILE* f = std::fopen(argv[5], "rb");
    if (!f || std::fread(in.data(), 4, in_words * samples, f) != in_words * samples) return 3;
    std::fclose(f);

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vmodel>(context.get());
    for (std::size_t c = 0; c < samples + extra; ++c) {
        put(top->model_inp, &in[in_words * (c < samples ? c : samples)]);
#ifdef CLOCKED
        top->clk = 0;
        top->eval();
        top->clk = 1;
#endif
        top->eval();
        get(top->model_out, &out[out_words * c]);
    }
    top->final();
    f = std::fopen(argv[6], "wb");
    if (!f || std::fwrite(out.data(), 4, out.size(), f) != out.size()) return 4;
    std::fclose(f);
    return 0;
}
