#include <cstdio>
int main() { std::puts("qrt: CLI not written yet"); return 1; }
