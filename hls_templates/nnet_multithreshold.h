// codesign: a BatchNormalization and the quantizing activation after it, as exact per-channel thresholds.
//
// QKeras evaluates quantizer(BN(x)) in float32; the composition is a monotonic step function of the fixed-point
// input, so it is exactly out = min_code + #{k : x >= t[c][k]} (or x <= t[c][k] where the BN slope is negative).
// The thresholds are computed by codesign from the Keras layers themselves.
#ifndef NNET_MULTITHRESHOLD_H_
#define NNET_MULTITHRESHOLD_H_

#include "nnet_common.h"

namespace nnet {

struct multithreshold_config {
    static const unsigned n_in = 1;
    static const unsigned n_filt = 1;
    static const unsigned n_levels = 1;
    static const int min_code = 0;
    typedef ap_fixed<18, 8> threshold_t;
    typedef ap_int<2> direction_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                    typename CONFIG_T::threshold_t thresholds[CONFIG_T::n_filt * CONFIG_T::n_levels],
                    typename CONFIG_T::direction_t direction[CONFIG_T::n_filt]) {
    #pragma HLS PIPELINE
    #pragma HLS ARRAY_PARTITION variable=thresholds complete
    #pragma HLS ARRAY_PARTITION variable=direction complete
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const unsigned c = i % CONFIG_T::n_filt;
        int count = 0;
        for (unsigned k = 0; k < CONFIG_T::n_levels; k++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::threshold_t t = thresholds[c * CONFIG_T::n_levels + k];
            count += (direction[c] > 0) ? (data[i] >= t) : (data[i] <= t);
        }
        res_T r;
        r.range(res_T::width - 1, 0) = CONFIG_T::min_code + count;  // the output code itself, as raw bits
        res[i] = r;
    }
}

} // namespace nnet

#endif
