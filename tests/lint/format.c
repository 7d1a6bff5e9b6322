/* Fixture for scripts/lint-selftest.sh: not clang-formatted; lint-format must refuse it. */
int format_probe( int a,int b );

int format_probe( int a,int b ) {
  if(a>b) return a; else return b;
}
