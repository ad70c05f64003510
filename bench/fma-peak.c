/* Measures this CPU's fp32 FMA peak per core: 12 independent FMA chains (enough to hide FMA latency
 * on current x86 cores), 16 lanes wide where the compiler targets AVX-512 (-march=native on a CPU that
 * has it), else 8 (AVX2), run on every core at once. Prints GFLOP/s for all cores together. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 2400000000L

#ifdef __AVX512F__
#define LANES 16
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#else
#define LANES 8
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#endif

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *worker(void *arg) {
  float *out = (float *)arg;
  vec a = SET1(0.999999f), b = SET1(1e-7f);
  vec c0 = SET1(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (long i = 0; i < ITERS / 12 / (LANES / 8); i++) {
    c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b);
    c3 = FMA(c3, a, b); c4 = FMA(c4, a, b); c5 = FMA(c5, a, b);
    c6 = FMA(c6, a, b); c7 = FMA(c7, a, b); c8 = FMA(c8, a, b);
    c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
  }
  vec s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
  s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));
  float v[LANES];
  STORE(v, s);
  *out = v[0];
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  pthread_t t[256];
  float sink[256];
  double t0 = seconds();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &sink[i]);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double dt = seconds() - t0;
  double flops = (double)threads * (ITERS / 12 / (LANES / 8)) * 12 * LANES * 2;
  printf("{\"threads\": %d, \"lanes\": %d, \"seconds\": %.4f, \"gflops\": %.2f, \"sink\": %g}\n", threads, LANES, dt, flops / dt / 1e9, sink[0]);
  return 0;
}
