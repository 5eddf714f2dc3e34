/* sparse.h — the first layer on sparse input (declarations only, fed to cffi's cdef
   like kernels.h). MNIST digits are about 81 % zero pixels, so X·W and W += Xᵀ·D
   need about a fifth of the dense products' work when X is kept sparse.

   A sparse image set holds the nonzero pixels of n uint8 images of D <= 65536
   pixels, image by image: image i's are p in [row_start[i], row_start[i+1]), at
   pixel col[p] (increasing within an image) with value pix[p]. It is built once
   per dataset (two calls: count, then fill) and costs 3 bytes a nonzero pixel
   (27 MB for MNIST's 60,000 training images, against 47 MB dense).
   A batch X is rows of a set: X[i, :] = image idx[i] (or i when idx == NULL),
   times scale (a pixel value of 0 in a set made by hand counts as no pixel in the update
   W += X^T D, as it would add 0; bp_sparse_fill never stores one). nnz is the length of col
   and pix. Every function that reads a set
   first checks it with bp_sparse_valid, so a damaged one is refused, never read
   out of bounds — unless `checked` is 1: the caller promises the set passed
   bp_sparse_valid when it was built and that nothing can write it since (Python's
   SparseImages keeps its set in memory only C sees; an epoch then pays no ~3 ms
   pass over all of it). Row indices idx are checked either way. W is K x N (K = D) with row stride ldw; C and D are row-major M x N.
   Return BP_OK or BP_EINVAL (see kernels.h). */

/* row_start[0..n] of the set of images (n x D, row-major): the first of the two calls. */
int bp_sparse_count(int64_t n, int64_t D, const uint8_t *images, int64_t *row_start);
/* col and pix (row_start[n] entries each) of the set: the second call. */
int bp_sparse_fill(int64_t n, int64_t D, const uint8_t *images, const int64_t *row_start, uint16_t *col, uint8_t *pix);

/* C[MxN] = X @ W (+ bias[N] on every row if bias != NULL). */
int bp_sparse_matmul_f32(int64_t M, int64_t N, int64_t K, const int64_t *row_start, const uint16_t *col, const uint8_t *pix, int64_t nnz, int checked, int64_t n_images, const int64_t *idx, float scale, const float *W, int64_t ldw, const float *bias, float *C, int64_t ldc);
/* W[KxN] += X^T @ D: the first layer's update when D = -lr * delta. */
int bp_sparse_matmul_t_acc_f32(int64_t M, int64_t N, int64_t K, const int64_t *row_start, const uint16_t *col, const uint8_t *pix, int64_t nnz, int checked, int64_t n_images, const int64_t *idx, float scale, const float *D, int64_t ldd, float *W, int64_t ldw);

/* The same in double precision. */
int bp_sparse_matmul_f64(int64_t M, int64_t N, int64_t K, const int64_t *row_start, const uint16_t *col, const uint8_t *pix, int64_t nnz, int checked, int64_t n_images, const int64_t *idx, double scale, const double *W, int64_t ldw, const double *bias, double *C, int64_t ldc);
int bp_sparse_matmul_t_acc_f64(int64_t M, int64_t N, int64_t K, const int64_t *row_start, const uint16_t *col, const uint8_t *pix, int64_t nnz, int checked, int64_t n_images, const int64_t *idx, double scale, const double *D, int64_t ldd, double *W, int64_t ldw);

/* 1 if row_start[0..n] and col[0..nnz) form a valid set of images of D pixels
   (row_start[0] = 0, nondecreasing, row_start[n] = nnz; within each image col strictly
   increasing and < D), else 0. */
int bp_sparse_valid(int64_t n, int64_t D, const int64_t *row_start, const uint16_t *col, int64_t nnz);
/* What every call that reads a set checks: bp_sparse_valid if checked is 0; if it is 1
   (see above) only that row_start runs from 0 to nnz. 1 if usable, else 0. */
int bp_sparse_usable(int64_t n, int64_t D, const int64_t *row_start, const uint16_t *col, int64_t nnz,
                     int checked);
