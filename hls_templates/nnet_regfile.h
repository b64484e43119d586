// codesign: the on-chip weight register file (loadable, upsettable, optionally triplicated).
//
// hls4ml's default project folds weights into logic as compile-time constants: nothing for a particle to upset and
// nothing to protect. In the ECON-T ASIC the weights are registers loaded over I2C; the generated project keeps them
// in static arrays with complete partitioning (one register per word, no ROM, no initialiser), written one word
// per call through the top-level load port and read every call by the layer code. The project-specific address
// map is documented in the generated firmware/regfile.h.
//
// Protection: a protected word is stored in three replicas r0/r1/r2; the bits named in its mask are read through a
// bitwise 2-of-3 majority vote, the others from r0 alone (the r1/r2 copies of unprotected bits have no reader and
// are trimmed by synthesis).
#ifndef NNET_REGFILE_H_
#define NNET_REGFILE_H_

#include "ap_fixed.h"
#include "ap_int.h"

namespace nnet {

// The raw bit pattern of a register word (two's complement for signed types), as the load port carries it.
template <class T> struct rf_word {
    typedef ap_uint<T::width> bits_t;

    static bits_t bits(const T &reg) { return reg.range(T::width - 1, 0); }

    template <class data_T> static void set(T &reg, const data_T &data) {
        #pragma HLS INLINE
        bits_t b = data.range(T::width - 1, 0);
        reg.range(T::width - 1, 0) = b;
    }
};

// Bitwise majority of three replicas on the bits of `mask`; bits outside the mask come from r0.
template <class T> T tmr_vote(const T &r0, const T &r1, const T &r2, const typename rf_word<T>::bits_t &mask) {
    #pragma HLS INLINE
    typedef typename rf_word<T>::bits_t bits_t;
    const bits_t a = rf_word<T>::bits(r0), b = rf_word<T>::bits(r1), c = rf_word<T>::bits(r2);
    const bits_t majority = (a & b) | (a & c) | (b & c);
    T out;
    out.range(T::width - 1, 0) = (a & ~mask) | (majority & mask);
    return out;
}

// Register -> layer operand (wires after complete partitioning).
template <class T, unsigned N> void rf_read(T reg[N], T out[N]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS UNROLL
        out[i] = reg[i];
    }
}

template <class T, unsigned N>
void rf_read_tmr(T r0[N], T r1[N], T r2[N], const typename rf_word<T>::bits_t mask[N], T out[N]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS UNROLL
        out[i] = tmr_vote<T>(r0[i], r1[i], r2[i], mask[i]);
    }
}

// The bias of a layer built without one: zeros, not registers (outside the fault space).
// Saturated weight transform (SAF): each operand becomes table[its stored W-bit pattern] — a lookup table between
// the weight register and the multiplier. The table holds raw operand codes.
template <class T, unsigned N, unsigned L> void rf_saf(T out[N], const typename rf_word<T>::bits_t table[L]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS UNROLL
        const typename rf_word<T>::bits_t pattern = out[i].range(T::width - 1, 0);
        out[i].range(T::width - 1, 0) = table[pattern.to_uint()];
    }
}

template <class T, unsigned N> void rf_zero(T out[N]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS UNROLL
        out[i] = 0;
    }
}

} // namespace nnet

#endif
