/* cpu_features.h — the x86-64 CPU test as a pure function (kernels_select.c), so that
   tests can ask what it decides for made-up CPUID and XCR0 values. */
int bp_x86_features(unsigned max_leaf, unsigned ecx1, unsigned ebx7, unsigned long long xcr0);
