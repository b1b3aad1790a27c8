/* The elementwise part of one time step of the fused GRU and Elman kernels, float32, in one pass.

   rnnkit/layers/fused.py runs the recurrence: the matrix multiplies go to oneDNN, and the gate
   math between them is what this file does. In PyTorch ops that math is 5-10 separate kernels
   per step, each a pass over memory plus a few microseconds of dispatch; here it is one loop
   per step that the compiler vectorises. rnnkit/layers/fast/native.py compiles this file with the
   machine's C compiler and calls it through ctypes; without a compiler the same steps run as
   PyTorch ops. Every array is row-major and contiguous; b rows, H hidden units.

   The equations are those of rnnkit/cells/gru.py and rnnkit/cells/rnn.py. */

#include <stdint.h>

/* exp(x) to float rounding (Cephes' expf): x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6
   polynomial, 2^n put straight into the exponent bits. Written without branches so that the
   loops calling it vectorise; a NaN input gives NaN. */
static inline float exp_f(float x) {
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -87.3365447505531f ? -87.3365447505531f : x;
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f); /* nearest integer to x / ln2 */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;        /* x - n ln2, ln2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23}; /* 2^n */
    return p * scale.f;
}

static inline float sigmoid_f(float a) { return 1.0f / (1.0f + exp_f(-a)); }

static inline float tanh_f(float a) { return 2.0f / (1.0f + exp_f(-2.0f * a)) - 1.0f; }

/* GRU forward step, in place. gi (b, 3H) holds x W_ih^T + b_ih in blocks r, z, n and receives
   the gates r, z, n; gh (b, 3H) is h_prev W_hh^T + b_hh; gh_n (b, H) receives its n block,
   which the backward pass needs; h (b, H) receives the new state.
       r = sigmoid(gi_r + gh_r)    z = sigmoid(gi_z + gh_z)    n = tanh(gi_n + r * gh_n)
       h = n + z * (h_prev - n)                                                              */
void gru_forward_step(int64_t b, int64_t H, float *restrict gi, const float *restrict gh,
                      float *restrict gh_n, const float *restrict h_prev, float *restrict h) {
    for (int64_t i = 0; i < b; i++) {
        float *restrict gr = gi + i * 3 * H, *restrict gz = gr + H, *restrict gn = gz + H;
        const float *restrict hr = gh + i * 3 * H, *restrict hz = hr + H, *restrict hn = hz + H;
        const float *restrict hp = h_prev + i * H;
        float *restrict ghn = gh_n + i * H, *restrict hi = h + i * H;
        for (int64_t j = 0; j < H; j++) {
            float r = sigmoid_f(gr[j] + hr[j]);
            float z = sigmoid_f(gz[j] + hz[j]);
            float n = tanh_f(gn[j] + r * hn[j]);
            gr[j] = r;
            gz[j] = z;
            gn[j] = n;
            ghn[j] = hn[j];
            hi[j] = n + z * (hp[j] - n);
        }
    }
}

/* GRU backward step. dh (b, H) enters as dL/dh_t from later steps, d_out (b, H) or NULL is
   dL/dh_t from the output; g (b, 3H) holds r, z, n and gh_n, h_prev the forward's values.
       dn_pre = dh (1 - z)(1 - n^2)      dg_hn = dn_pre r      dr_pre = dg_hn gh_n (1 - r)
       dz_pre = dh (h_prev - n) z (1 - z)
   e_h (b, 3H) receives the hidden-side gate gradients in the order [dg_hn, dr_pre, dz_pre],
   e_i (b, 3H) the input-side ones [dr_pre, dz_pre, dn_pre], and dh becomes dh * z, the part of
   dL/dh_{t-1} that does not go through W_hh (the caller adds e_h W_hh).                   */
void gru_backward_step(int64_t b, int64_t H, float *restrict dh, const float *restrict d_out,
                       const float *restrict g, const float *restrict gh_n,
                       const float *restrict h_prev, float *restrict e_h, float *restrict e_i) {
    for (int64_t i = 0; i < b; i++) {
        const float *restrict r_ = g + i * 3 * H, *restrict z_ = r_ + H, *restrict n_ = z_ + H;
        const float *restrict ghn = gh_n + i * H, *restrict hp = h_prev + i * H;
        const float *restrict dout = d_out ? d_out + i * H : 0;
        float *restrict dhi = dh + i * H, *restrict eh = e_h + i * 3 * H, *restrict ei = e_i + i * 3 * H;
        for (int64_t j = 0; j < H; j++) {
            float d = dhi[j] + (dout ? dout[j] : 0.0f);
            float r = r_[j], z = z_[j], n = n_[j];
            float dn = d * (1.0f - z) * (1.0f - n * n);
            float dghn = dn * r;
            float dr = dghn * ghn[j] * (1.0f - r);
            float dz = d * (hp[j] - n) * z * (1.0f - z);
            eh[j] = dghn;
            eh[H + j] = dr;
            eh[2 * H + j] = dz;
            ei[j] = dr;
            ei[H + j] = dz;
            ei[2 * H + j] = dn;
            dhi[j] = d * z;
        }
    }
}

/* The Elman forward step, n values: h = tanh(a + g) or relu(a + g), where a = h_prev W_hh^T comes
   from the matrix multiply and g = x W_ih^T + b from the input projection. */
void elman_forward_step(int64_t n, const float *restrict a, const float *restrict g, int relu,
                        float *restrict h) {
    if (relu) {
        for (int64_t k = 0; k < n; k++) {
            float v = a[k] + g[k];
            h[k] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (int64_t k = 0; k < n; k++) h[k] = tanh_f(a[k] + g[k]);
    }
}

/* Elman backward step: d = dh + d_out (d_out may be NULL), e = d * act'(a) into e (n values),
   act' = 1 - h^2 for tanh, [h > 0] for relu, from the forward's outputs h. */
void elman_backward_step(int64_t n, const float *restrict dh, const float *restrict d_out,
                         const float *restrict h, int relu, float *restrict e) {
    if (relu) {
        for (int64_t k = 0; k < n; k++) e[k] = h[k] > 0.0f ? dh[k] + (d_out ? d_out[k] : 0.0f) : 0.0f;
    } else {
        for (int64_t k = 0; k < n; k++) e[k] = (dh[k] + (d_out ? d_out[k] : 0.0f)) * (1.0f - h[k] * h[k]);
    }
}

/* LSTM step gate math for the batch-1 Stepper. gates (b, 4H) holds [x, h_prev] W^T + b in the
   Stepper's block order i, f, o, g; c (b, H) is updated in place; h (row stride ldh) receives
       c = sigmoid(f) * c + sigmoid(i) * tanh(g)      h = sigmoid(o) * tanh(c)              */
void lstm_step(int64_t b, int64_t H, const float *restrict gates, float *restrict c,
               float *restrict h, int64_t ldh) {
    for (int64_t r = 0; r < b; r++) {
        const float *gi = gates + r * 4 * H, *gf = gi + H, *go = gf + H, *gg = go + H;
        float *cr = c + r * H, *hr = h + r * ldh;
        for (int64_t j = 0; j < H; j++) {
            float cj = sigmoid_f(gf[j]) * cr[j] + sigmoid_f(gi[j]) * tanh_f(gg[j]);
            cr[j] = cj;
            hr[j] = sigmoid_f(go[j]) * tanh_f(cj);
        }
    }
}

/* GRU step gate math for the batch-1 Stepper. gi (b, 3H) holds x W_ih^T + b_ih and gh (b, 3H) holds
   h_prev W_hh^T + b_hh, in blocks r, z, n; h (row stride ldh) holds h_prev and receives the new state
       r = sigmoid(gi_r + gh_r)    z = sigmoid(gi_z + gh_z)    n = tanh(gi_n + r * gh_n)
       h = n + z * (h_prev - n)
   h is read and written at the same index, so it is one pointer, not a restrict pair.            */
void gru_step(int64_t b, int64_t H, const float *restrict gi, const float *restrict gh, float *h, int64_t ldh) {
    for (int64_t i = 0; i < b; i++) {
        const float *restrict xr = gi + i * 3 * H, *restrict xz = xr + H, *restrict xn = xz + H;
        const float *restrict hr = gh + i * 3 * H, *restrict hz = hr + H, *restrict hn = hz + H;
        float *hi = h + i * ldh;
        for (int64_t j = 0; j < H; j++) {
            float r = sigmoid_f(xr[j] + hr[j]);
            float z = sigmoid_f(xz[j] + hz[j]);
            float n = tanh_f(xn[j] + r * hn[j]);
            hi[j] = n + z * (hi[j] - n);
        }
    }
}
