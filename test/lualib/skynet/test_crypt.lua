-- skynet.crypt: scrypt against the RFC 7914 test vectors, random bytes, the constant-time compare,
-- hex, and clear errors for parameters libcrypto refuses.
local t = require "tlib"
local crypt = require "skynet.crypt"

t.run(function()
    local hex = crypt.hexencode
    -- RFC 7914, section 12 (the two vectors that cost little).
    t.eq(hex(crypt.scrypt("", "", 16, 1, 1, 64)),
        "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442" ..
        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906", "scrypt vector 1")
    t.eq(hex(crypt.scrypt("password", "NaCl", 1024, 8, 16, 64)),
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" ..
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640", "scrypt vector 2")
    t.raises({ "N must be a power of 2" }, crypt.scrypt, "pw", "salt", 1000, 8, 1, 32)
    t.raises({ "crypt.scrypt(N=1048576, r=8, p=1)" }, crypt.scrypt, "pw", "salt", 1 << 20, 8, 1, 32)

    local a, b = crypt.randombytes(16), crypt.randombytes(16)
    t.eq(#a, 16, "randombytes length")
    t.ok(a ~= b, "two draws differ")
    t.raises({ "must be from 1 to 1024" }, crypt.randombytes, 0)

    t.ok(crypt.equals("abc", "abc"), "equal strings")
    t.ok(not crypt.equals("abc", "abd"), "different last byte")
    t.ok(not crypt.equals("abc", "abcd"), "different lengths")

    t.eq(hex("\0\1\254\255"), "0001feff", "hexencode")
    t.eq(crypt.hexdecode("0001FEff"), "\0\1\254\255", "hexdecode")
    t.raises({ "crypt.hexdecode: invalid hex text: odd length 3" }, crypt.hexdecode, "abc")
    t.raises({ "crypt.hexdecode: invalid hex text: byte 1 is 'z'" }, crypt.hexdecode, "zz")
end)
