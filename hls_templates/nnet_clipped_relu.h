// codesign: ClipAct's clipped ReLU (CReLU) on the quantized output codes of a ReLU activation.
//
// y = res_T(x > 0 ? x : 0), exactly hls4ml's relu; then a code above the layer's threshold becomes 0 — a very large
// activation is taken to be the effect of a fault (ClipAct; SSL fault-tolerance paper, eq. 1). The threshold is a
// raw output code chosen by codesign's threshold search.
#ifndef NNET_CLIPPED_RELU_H_
#define NNET_CLIPPED_RELU_H_

#include "nnet_common.h"

namespace nnet {

struct clipped_relu_config {
    static const unsigned n_in = 1;
    static const long clip_code = 0;
};

template <class data_T, class res_T, typename CONFIG_T>
void clipped_relu(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    res_T limit;
    limit.range(res_T::width - 1, 0) = CONFIG_T::clip_code;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        data_T x = data[i];
        res_T y;
        if (x > 0) y = x;
        else y = 0;
        res[i] = (y > limit) ? res_T(0) : y;
    }
}

} // namespace nnet

#endif
