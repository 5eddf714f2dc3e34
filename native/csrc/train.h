/* Whole-epoch training and batched prediction for the MNIST trainer, built on
   the kernels of kernels.h. n_layers = L weight matrices, sizes[0..L] the
   layer widths; weights[l] is sizes[l]×sizes[l+1], biases[l] is 1×sizes[l+1],
   all C-contiguous. Images are uint8 rows of sizes[0] pixels, scaled by
   `scale` as they are gathered: either dense (`images`, n_images x sizes[0])
   or, when sp_row_start != NULL, a sparse image set of n_images images
   (sparse.h: sp_row_start, sp_col, sp_pix, sp_nnz; sp_checked as sparse.h's
   `checked`), whose first layer then runs on the nonzero pixels only; `images` is
   not read and may be NULL. n_threads must be the value the workspace was sized for. Return 0 (BP_OK) or BP_EINVAL. */

/* Elements (of the float type in use) of the workspace that both calls need
   for n_threads threads (-1 for unsupported sizes, or sizes whose products would
   overflow int64 or exceed BP_MAX_WIDTH). */
int64_t bp_train_workspace_len(int64_t n_layers, const int64_t *sizes, int64_t batch_size,
                               int n_threads);

/* One epoch of §5.7: for each mini-batch order[start:start+batch_size] gather,
   forward, softmax-cross-entropy, backward, SGD step with lr. label_buf holds
   batch_size int32. *mean_loss = mean of the batch losses. The _losses variants
   also write each batch's loss, in order, to batch_losses (ceil(n_order /
   batch_size) doubles) when it is not NULL. */
int bp_train_epoch_f32(int64_t n_layers, const int64_t *sizes, float **weights, float **biases,
                       const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                       const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images, const int32_t *labels,
                       const int64_t *order, int64_t n_order, int64_t batch_size,
                       float lr, float scale, float *workspace, int64_t workspace_len,
                       int32_t *label_buf, int n_threads, double *mean_loss);
int bp_train_epoch_f64(int64_t n_layers, const int64_t *sizes, double **weights, double **biases,
                       const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                       const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images, const int32_t *labels,
                       const int64_t *order, int64_t n_order, int64_t batch_size,
                       double lr, double scale, double *workspace, int64_t workspace_len,
                       int32_t *label_buf, int n_threads, double *mean_loss);

int bp_train_epoch_losses_f32(int64_t n_layers, const int64_t *sizes, float **weights, float **biases,
                              const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                              const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images,
                              const int32_t *labels, const int64_t *order, int64_t n_order,
                              int64_t batch_size, float lr, float scale, float *workspace,
                              int64_t workspace_len, int32_t *label_buf, int n_threads,
                              double *mean_loss, double *batch_losses);
int bp_train_epoch_losses_f64(int64_t n_layers, const int64_t *sizes, double **weights, double **biases,
                              const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                              const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images,
                              const int32_t *labels, const int64_t *order, int64_t n_order,
                              int64_t batch_size, double lr, double scale, double *workspace,
                              int64_t workspace_len, int32_t *label_buf, int n_threads,
                              double *mean_loss, double *batch_losses);

/* pred[i] = argmax of the network's output for image i, in chunks of batch_size rows. */
int bp_predict_f32(int64_t n_layers, const int64_t *sizes, float **weights, float **biases,
                   const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                   const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images, float scale, int64_t batch_size,
                   float *workspace, int64_t workspace_len, int n_threads, int32_t *pred);
int bp_predict_f64(int64_t n_layers, const int64_t *sizes, double **weights, double **biases,
                   const uint8_t *images, const int64_t *sp_row_start, const uint16_t *sp_col,
                   const uint8_t *sp_pix, int64_t sp_nnz, int sp_checked, int64_t n_images, double scale, int64_t batch_size,
                   double *workspace, int64_t workspace_len, int n_threads, int32_t *pred);
