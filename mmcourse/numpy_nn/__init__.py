"""From-scratch neural-network layers in NumPy, forward and backward (chapters 04, 05, 08, 09 and 12).

Every layer is a pair of pure functions, ``out, cache = *_forward(...)`` and
``grads = *_backward(dout, cache)``; the tests prove each equals PyTorch and
Keras and passes a numerical gradient check. Modules by topic:

- :mod:`.core`: linear, ReLU/sigmoid/tanh, softmax cross-entropy, flatten
- :mod:`.conv`: conv2d (im2col + one GEMM), max and average pooling
- :mod:`.rnn`: RNN and LSTM with BPTT, GRU forward
- :mod:`.word2vec`: skip-gram with negative sampling
- :mod:`.attention`: scaled dot-product and multi-head attention, masks,
  sinusoidal positions, layer norm
- :mod:`.contrastive`: the symmetric InfoNCE (CLIP) loss and its similarity logits
- :mod:`.ctc`: the CTC loss by the forward-backward recursion, and its gradient
- :mod:`.gradcheck`: numerical gradients
- :mod:`.convert`: copy weights from torch / Keras layers (layouts, gate orders)
- :mod:`.bench`: NumPy vs torch timings
"""
from .attention import (
    causal_mask,
    layer_norm_backward,
    layer_norm_forward,
    multi_head_attention_backward,
    multi_head_attention_forward,
    padding_mask,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    sinusoidal_positions,
)
from .contrastive import info_nce_backward, info_nce_forward, similarity_logits
from .conv import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    col2im,
    conv2d_backward,
    conv2d_einsum,
    conv2d_forward,
    conv_output_size,
    im2col,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .convert import (
    conv2d_weights_from_keras,
    conv2d_weights_from_torch,
    conv2d_weights_to_keras,
    gru_weights_from_keras,
    gru_weights_from_torch,
    linear_weights_from_torch,
    lstm_weights_from_keras,
    lstm_weights_from_torch,
    mha_weights_from_keras,
    mha_weights_from_torch,
    mha_weights_to_keras,
    rnn_weights_from_keras,
    rnn_weights_from_torch,
)
from .core import (
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
    log_softmax,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    tanh_backward,
    tanh_forward,
)
from .ctc import ctc_loss_backward, ctc_loss_forward
from .gradcheck import numerical_gradient, relative_error
from .rnn import gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward
from .word2vec import (
    negative_sampling_table,
    nearest_neighbours,
    sample_negatives,
    sgns_loss_and_grads,
    skipgram_pairs,
    train_word2vec,
)

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "causal_mask",
    "col2im",
    "conv2d_backward",
    "conv2d_einsum",
    "conv2d_forward",
    "conv2d_weights_from_keras",
    "conv2d_weights_from_torch",
    "conv2d_weights_to_keras",
    "conv_output_size",
    "ctc_loss_backward",
    "ctc_loss_forward",
    "flatten_backward",
    "flatten_forward",
    "gru_forward",
    "gru_weights_from_keras",
    "gru_weights_from_torch",
    "im2col",
    "info_nce_backward",
    "info_nce_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "linear_backward",
    "linear_forward",
    "linear_weights_from_torch",
    "log_softmax",
    "lstm_backward",
    "lstm_forward",
    "lstm_weights_from_keras",
    "lstm_weights_from_torch",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "mha_weights_from_keras",
    "mha_weights_from_torch",
    "mha_weights_to_keras",
    "multi_head_attention_backward",
    "multi_head_attention_forward",
    "nearest_neighbours",
    "negative_sampling_table",
    "numerical_gradient",
    "padding_mask",
    "relative_error",
    "relu_backward",
    "relu_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_weights_from_keras",
    "rnn_weights_from_torch",
    "sample_negatives",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "sgns_loss_and_grads",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "similarity_logits",
    "sinusoidal_positions",
    "skipgram_pairs",
    "softmax",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "tanh_backward",
    "tanh_forward",
    "train_word2vec",
]
