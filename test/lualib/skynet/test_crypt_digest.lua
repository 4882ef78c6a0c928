-- skynet.crypt's skynet functions: SHA-1 (RFC 3174), SHA-256 (FIPS 180-2 examples), HMAC-SHA1
-- (RFC 2202), HMAC-SHA256 (RFC 4231), base64 (RFC 4648), randomkey, and clear errors for
-- malformed base64 and hex. Digests and MACs are raw bytes, as in skynet.
local t = require "tlib"
local crypt = require "skynet.crypt"

local hex = crypt.hexencode
local rep = string.rep

t.run(function()
    -- RFC 3174, section 7.3 (TEST1..TEST4), and the empty string.
    t.eq(#crypt.sha1("abc"), 20, "sha1 is raw bytes")
    t.eq(hex(crypt.sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1 TEST1")
    t.eq(hex(crypt.sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "sha1 TEST2")
    t.eq(hex(crypt.sha1(rep("a", 1000000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
        "sha1 TEST3")
    t.eq(hex(crypt.sha1(rep("01234567", 80))), "dea356a2cddd90c7a7ecedc5ebb563934f460452",
        "sha1 TEST4")
    t.eq(hex(crypt.sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 empty")
    t.eq(hex(crypt.sha1("a\0b")), hex(crypt.sha1("a\0b")), "binary input")
    t.ok(crypt.sha1("a\0b") ~= crypt.sha1("a"), "sha1 reads past a zero byte")

    t.eq(hex(crypt.sha256("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc")
    t.eq(hex(crypt.sha256("")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty")

    -- RFC 2202, section 3: test cases 1, 2, 3 and 6 (a key longer than the block).
    local hs1 = function(k, d) return hex(crypt.hmac_sha1(k, d)) end
    t.eq(hs1(rep("\x0b", 20), "Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00", "2202 #1")
    t.eq(hs1("Jefe", "what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        "2202 #2")
    t.eq(hs1(rep("\xaa", 20), rep("\xdd", 50)), "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
        "2202 #3")
    t.eq(hs1(rep("\xaa", 80), "Test Using Larger Than Block-Size Key - Hash Key First"),
        "aa4ae5e15272d00e95705637ce8a3b55ed402112", "2202 #6")

    -- RFC 4231, section 4: test cases 1, 2, 3, 6 and 7.
    local hs256 = function(k, d) return hex(crypt.hmac_sha256(k, d)) end
    t.eq(hs256(rep("\x0b", 20), "Hi There"),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "4231 #1")
    t.eq(hs256("Jefe", "what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "4231 #2")
    t.eq(hs256(rep("\xaa", 20), rep("\xdd", 50)),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", "4231 #3")
    t.eq(hs256(rep("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First"),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "4231 #6")
    t.eq(hs256(rep("\xaa", 131), "This is a test using a larger than block-size key and a " ..
        "larger than block-size data. The key needs to be hashed before being used by the " ..
        "HMAC algorithm."),
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", "4231 #7")
    t.raises({ "bad argument #2 to 'skynet.crypt.hmac_sha1'" }, crypt.hmac_sha1, "key")

    -- RFC 4648, section 10, both ways.
    local vectors = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    }
    for _, v in ipairs(vectors) do
        t.eq(crypt.base64encode(v[1]), v[2], "base64encode " .. v[1])
        t.eq(crypt.base64decode(v[2]), v[1], "base64decode " .. v[2])
    end
    -- Every byte value survives the round trip, at each length modulo 3.
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    for cut = 254, 256 do
        local s = all:sub(1, cut)
        t.eq(crypt.base64decode(crypt.base64encode(s)), s, "round trip of " .. cut .. " bytes")
    end
    t.eq(crypt.base64encode("\xfb\xff"), "+/8=", "the last two letters of the alphabet")
    -- Line breaks and spaces of wrapped text are skipped.
    t.eq(crypt.base64decode("Zm9v\r\nYmFy\n"), "foobar", "wrapped text")
    t.eq(crypt.base64decode(" Zm9v Yg== "), "foob", "spaces")
    -- Malformed text raises, naming the byte.
    t.raises({ "crypt.base64decode", "byte 3 is '-'" }, crypt.base64decode, "Zm-v")
    t.raises({ "crypt.base64decode", "truncated at byte 3" }, crypt.base64decode, "Zm9")
    t.raises({ "crypt.base64decode", "'=' at byte 2" }, crypt.base64decode, "Z===")
    t.raises({ "crypt.base64decode", "byte 5 ('Z') after the padding" }, crypt.base64decode,
        "Zg==Zg==")
    t.raises({ "crypt.base64decode", "byte 4 ('v') after the padding" }, crypt.base64decode, "Zm=v")
    t.raises({ "crypt.base64decode", "stray bits" }, crypt.base64decode, "Zh==")

    -- hex, as skynet: malformed text raises.
    t.eq(crypt.hexdecode(hex(all)), all, "hex round trip")
    t.raises({ "crypt.hexdecode", "odd length 3" }, crypt.hexdecode, "abc")
    t.raises({ "crypt.hexdecode", "byte 2 is 'z'" }, crypt.hexdecode, "0z")

    -- randomkey: 8 bytes from the CSPRNG, different each time.
    local k1, k2 = crypt.randomkey(), crypt.randomkey()
    t.eq(#k1, 8, "randomkey length")
    t.ok(k1 ~= k2, "two keys differ")
end)
