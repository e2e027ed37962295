"""Fits the polynomial coefficients used by Sources/CEmberVectorMath/kernels.h
(least squares on Chebyshev nodes, float64) and prints their maximum errors.
Run with any Python that has numpy and scipy: python scripts/fit_vector_math.py"""
import numpy as np
from scipy.special import erf, erfc
def cheb(a, b, n=4000): 
    k = np.arange(n); return (a+b)/2 + (b-a)/2*np.cos(np.pi*(k+0.5)/n)
def fit(xs, ys, basis, w=None):
    A = np.stack([f(xs) for f in basis], 1)
    if w is not None: A = A*w[:,None]; ys = ys*w
    c, *_ = np.linalg.lstsq(A, ys, rcond=None); return c
# exp: e^r = 1 + r + r^2 * P(r), P degree 4 on [-ln2/2, ln2/2]
r = cheb(-np.log(2)/2, np.log(2)/2)
y = (np.exp(r) - 1 - r)/r**2
c = np.polyfit(r, y, 4); print("exp P (highest first)", repr(c))
rr = np.linspace(-np.log(2)/2, np.log(2)/2, 100001).astype(np.float32)
p = np.float32(0)
for ci in c: p = p*rr + np.float32(ci)
approx = 1 + rr + rr*rr*p
print(" exp max rel err", np.max(np.abs(approx.astype(np.float64) - np.exp(rr.astype(np.float64)))/np.exp(rr.astype(np.float64))))
# tanh small: tanh(x) = x + x^3 Q(x^2) on [0, 0.625]
x = cheb(1e-4, 0.625); z = x*x
q = np.polyfit(z, (np.tanh(x) - x)/x**3, 4); print("tanh Q", repr(q))
xx = np.linspace(1e-6, 0.625, 100001); zz=xx*xx
print(" tanh max rel err", np.max(np.abs((xx + xx**3*np.polyval(q, zz)) - np.tanh(xx))/np.tanh(xx)))
# erf small: erf(x) = x * S(x^2) on [0, 1]
x = cheb(1e-4, 1.0); z=x*x
s = np.polyfit(z, erf(x)/x, 6); print("erf S", repr(s))
xx = np.linspace(1e-6, 1, 100001)
print(" erf small max rel err", np.max(np.abs(xx*np.polyval(s, xx*xx) - erf(xx))/erf(xx)))
# erf large: erfc(x) = exp(-x^2) * T(1/x) on [1, 4]
x = cheb(1.0, 4.0); u = 1/x
t = np.polyfit(u, erfc(x)*np.exp(x*x), 9); print("erfc T", repr(t))
xx = np.linspace(1, 4, 100001)
approx = 1 - np.exp(-xx*xx)*np.polyval(t, 1/xx)
print(" erf large max abs err", np.max(np.abs(approx - erf(xx))), "erfc rel", np.max(np.abs(np.exp(-xx*xx)*np.polyval(t,1/xx) - erfc(xx))/erfc(xx)))
np.set_printoptions(precision=17)
for name, v in [("exp", c), ("tanh", q), ("erf", s), ("erfc", t)]:
    print(name, ", ".join("%.10e" % a for a in v))
