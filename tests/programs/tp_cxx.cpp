/*
 * tp_cxx: C++ allocation paths.  Every function below has C linkage so that
 * its name in a stack is plain, and is a real frame at any optimisation
 * level.  No iostreams, no std containers: output through write(2).
 *
 *   function                    expression                      allocs frees
 * bytes cxx_new_scalar              new int(7); sized delete             1 1 4
 *   cxx_new_array               new int[10]; delete[]                1     1 40
 *   cxx_new_cookie_array        new Tracked[5] (non-trivial
 *                               destructor: 8-byte array cookie);
 *                               delete[]                             1     1 28
 *   cxx_new_aligned             new Aligned (alignas(64), 128
 *                               bytes); sized aligned delete         1     1
 * 128 cxx_new_aligned_explicit    operator new(256, align_val_t(64)); operator
 * delete(p, 256, align 64)    1     1   256 cxx_new_nothrow             new
 * (std::nothrow) int[3]; delete[]  1     1    12 cxx_leak                    2
 * x new Leaky (48 bytes), kept       2     0    96
 *
 * Program total: 8 allocations, 6 frees, 564 bytes; live at exit 2 blocks,
 * 96 bytes; at most 256 bytes of program blocks are live at once (the
 * leaks come last), so the heap peaks at the pool below + 256 bytes.  Sizes
 * passed to the aligned operator new are multiples of the alignment, so
 * libstdc++'s aligned_alloc() receives them unchanged.
 *
 * Besides, libstdc++ allocates its emergency exception-handling pool (one
 * block, about 72 KiB with GCC 12) while it initialises, before main; it is
 * never freed and its stack contains none of the functions above.
 * Writes "tp_cxx: ok\n", exits 0; 10+ on a failed check.
 */
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

struct Tracked {
	int v;
	~Tracked()
	{
		ESCAPE(this);
	}
};

struct alignas(64) Aligned {
	char c[128];
};

struct Leaky {
	char c[48];
};

static Leaky *leaked[2];

static NOINLINE void die(int code, const char *msg)
{
	(void)!write(2, msg, std::strlen(msg));
	_exit(code);
}

extern "C" {
void cxx_new_scalar(void);
void cxx_new_array(void);
void cxx_new_cookie_array(void);
void cxx_new_aligned(void);
void cxx_new_aligned_explicit(void);
void cxx_new_nothrow(void);
void cxx_leak(void);
}

extern "C" NOINLINE void cxx_new_scalar(void)
{
	int *p = new int(7);
	ESCAPE(p);
	delete p;
}

extern "C" NOINLINE void cxx_new_array(void)
{
	int *a = new int[10];
	ESCAPE(a);
	delete[] a;
}

extern "C" NOINLINE void cxx_new_cookie_array(void)
{
	Tracked *t = new Tracked[5];
	ESCAPE(t);
	delete[] t;
}

extern "C" NOINLINE void cxx_new_aligned(void)
{
	Aligned *a = new Aligned;
	ESCAPE(a);
	if (reinterpret_cast<std::uintptr_t>(a) % 64 != 0)
		die(15, "tp_cxx: new Aligned is misaligned\n");
	delete a;
}

extern "C" NOINLINE void cxx_new_aligned_explicit(void)
{
	void *p = ::operator new(256, std::align_val_t(64));
	ESCAPE(p);
	if (reinterpret_cast<std::uintptr_t>(p) % 64 != 0)
		die(15, "tp_cxx: aligned operator new is misaligned\n");
	::operator delete(p, 256, std::align_val_t(64));
}

extern "C" NOINLINE void cxx_new_nothrow(void)
{
	int *p = new (std::nothrow) int[3];
	if (p == nullptr)
		die(10, "tp_cxx: nothrow new failed\n");
	ESCAPE(p);
	delete[] p;
}

extern "C" NOINLINE void cxx_leak(void)
{
	leaked[0] = new Leaky;
	leaked[1] = new Leaky;
	ESCAPE(leaked[0]);
	ESCAPE(leaked[1]);
}

int main()
{
	static_assert(sizeof(Aligned) == 128, "Aligned is 128 bytes");
	static_assert(sizeof(Leaky) == 48, "Leaky is 48 bytes");
	static_assert(sizeof(Tracked) == 4, "Tracked is 4 bytes");
	cxx_new_scalar();
	cxx_new_array();
	cxx_new_cookie_array();
	cxx_new_aligned();
	cxx_new_aligned_explicit();
	cxx_new_nothrow();
	cxx_leak();
	(void)!write(1, "tp_cxx: ok\n", 11);
	return 0;
}
