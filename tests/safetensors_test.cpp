// safetensors reading and writing, checked against bytes built by hand from
// the format's specification (not only against our own writer), every kind of
// damaged file, atomic saves, and the bf16/f16 conversions checkpoints rely on.
#include "frontend/safetensors.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/test_support.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "support/bf16.h"
#include "support/error.h"

namespace fs = std::filesystem;
using namespace horizon;
using namespace horizon::frontend;

namespace {

using horizon::testing::TempDir;
using horizon::testing::expect_user_error;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

/// A safetensors file from its parts, exactly as the specification lays it out.
std::string make_file(const std::string& dir_file, const std::string& header, const std::string& data) {
  std::ofstream(dir_file, std::ios::binary) << le64(header.size()) << header << data;
  return dir_file;
}

}  // namespace

TEST(SafetensorsBf16, KnownValuesRoundToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(-2.5f), 0xC020);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);  // above half
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to +inf
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::bit_cast<float>(0x7F800001u)))));  // payload in low bits
  EXPECT_EQ(float_to_bf16_truncate(std::bit_cast<float>(0x3F81FFFFu)), 0x3F81);
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_to_float(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_bf16(f), b);
    }
  }
}

// The split master weight: hi is bf16 rounded to nearest, and (hi, lo) is
// the exact f32 for every bit pattern but the few finite values that would
// round to infinity, which clamp to the largest that does not.
TEST(SafetensorsBf16, SplitMasterIsExactAndRoundsTheWorkingWeight) {
  auto round_trip = [](uint32_t bits) {
    const MasterPlanes p = split_master(std::bit_cast<float>(bits));
    return std::bit_cast<uint32_t>(join_master(p.hi, p.lo));
  };
  EXPECT_EQ(split_master(std::bit_cast<float>(0x3F808000u)).hi, 0x3F81);  // half an ulp: away from zero
  EXPECT_EQ(split_master(std::bit_cast<float>(0x3F807FFFu)).hi, 0x3F80);
  EXPECT_EQ(split_master(std::bit_cast<float>(0xBF80C000u)).hi, 0xBF81);  // negative: magnitude rounds up
  EXPECT_EQ(split_master(std::bit_cast<float>(0x3F7FFFFFu)).hi, 0x3F80);  // carries into the exponent
  EXPECT_EQ(split_master(std::numeric_limits<float>::max()).hi, 0x7F7F);  // would round to infinity
  EXPECT_EQ(round_trip(0x7F7FFFFFu), 0x7F7F7FFFu);
  EXPECT_EQ(round_trip(0xFF7F9000u), 0xFF7F7FFFu);
  for (uint32_t special : {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F80C001u, 0xFFFFFFFFu})
    EXPECT_EQ(round_trip(special), special) << std::hex << special;
  uint32_t bits = 12345;
  for (int k = 0; k < 2'000'000; ++k) {
    bits = bits * 1664525u + 1013904223u;
    const uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude >= 0x7F7F8000u && magnitude < 0x7F800000u) continue;  // the clamped band
    ASSERT_EQ(round_trip(bits), bits) << std::hex << bits;
    const float f = std::bit_cast<float>(bits);
    if (std::isfinite(f)) {
      ASSERT_LE(std::abs(static_cast<double>(bf16_to_float(split_master(f).hi)) - f),
                std::abs(static_cast<double>(bf16_to_float(float_to_bf16_truncate(f))) - f))
          << std::hex << bits;
    }
  }
}

TEST(SafetensorsBf16, HalfKnownValuesAndRoundTrip) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f), 0x3C00);      // tie, even stays
  EXPECT_EQ(float_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie, odd rounds up
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);  // tie with an odd mantissa: to infinity
  EXPECT_EQ(float_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_f16(0x1p-25f), 0x0000);  // tie to even (zero)
  EXPECT_EQ(float_to_f16(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_FLOAT_EQ(f16_to_float(0x0001), 0x1p-24f);
  EXPECT_FLOAT_EQ(f16_to_float(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_f16(f), h) << std::hex << h;
    }
  }
}

TEST(Safetensors, WriteReadRoundTripAllDtypes) {
  TempDir dir;
  std::vector<float> f32 = {1.5f, -2.25f, 3e-8f, 65504.0f, 0.1f, -0.0f};
  std::vector<uint16_t> bf16, f16;
  for (float v : f32) bf16.push_back(float_to_bf16(v)), f16.push_back(float_to_f16(v));
  const std::string path = dir / "model.safetensors";
  write_safetensors(path,
                    {{"z.weight", ir::DType::f32, {2, 3}, f32.data()},
                     {"a.bf16", ir::DType::bf16, {6}, bf16.data()},
                     {"m.half", ir::DType::f16, {3, 1, 2}, f16.data()},
                     {"empty", ir::DType::f32, {0, 4}, nullptr}},
                    {{"format", "pt"}, {"step", "12"}});
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  std::string raw = read_all(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(raw[i])) << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  EXPECT_EQ(raw.substr(8, 16), "{\"__metadata__\":");

  SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "a.bf16");
  EXPECT_EQ(f.tensors()[3].name, "z.weight");
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"step", "12"}}));
  EXPECT_EQ(f.at("m.half").dtype, "F16");
  EXPECT_EQ(f.at("m.half").shape, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(f.at("z.weight").dtype, "F32");
  EXPECT_EQ(f.read_f32("z.weight"), f32);
  std::vector<float> from_bf16 = f.read_f32("a.bf16"), from_f16 = f.read_f32("m.half");
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(from_bf16[i], bf16_to_float(bf16[i]));
    EXPECT_EQ(from_f16[i], f16_to_float(f16[i]));
    EXPECT_NEAR(from_bf16[i], f32[i], std::abs(f32[i]) / 128);
  }
  std::vector<uint8_t> bytes = f.read_bytes("a.bf16");
  ASSERT_EQ(bytes.size(), 12u);
  EXPECT_EQ(std::memcmp(bytes.data(), bf16.data(), 12), 0);
  EXPECT_TRUE(f.read_f32("empty").empty());
  EXPECT_EQ(f.find("nope"), nullptr);
}

// The byte layout the specification gives, built by hand (WriterMatchesReferenceLayout
// compares with the reference writer's own output).
TEST(Safetensors, WriterOutputMatchesSpecBytes) {
  TempDir dir;
  float a[2] = {1.0f, 2.0f};
  write_safetensors(dir / "a.safetensors", {{"a", ir::DType::f32, {2}, a}}, {{"format", "pt"}});
  std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string expected = le64(header.size()) + header + std::string("\0\0\x80\x3f\0\0\0\x40", 8);
  EXPECT_EQ(read_all(dir / "a.safetensors"), expected);
}

TEST(Safetensors, ReadsHandBuiltFile) {
  TempDir dir;
  // Unpadded header, keys in no particular order, an integer tensor: all legal.
  std::string header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
      R"("h":{"dtype":"F16","shape":[3],"data_offsets":[12,18]},"i":{"dtype":"I64","shape":[1],"data_offsets":[18,26]},)"
      R"("__metadata__":{"format":"pt"}})";
  std::string data("\x00\x00\x80\x3f\x00\x00\x20\xc0"   // f32 1.0, -2.5
                   "\x80\x3f\x20\xc0"                   // bf16 1.0, -2.5
                   "\x00\x3c\x00\xc0\xff\x7b"           // f16 1.0, -2.0, 65504
                   "\x07\x00\x00\x00\x00\x00\x00\x00",  // i64 7
                   26);
  SafetensorsFile f = SafetensorsFile::open(make_file(dir / "h.safetensors", header, data));
  EXPECT_EQ(f.read_f32("w"), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(f.read_f32("h"), (std::vector<float>{1.0f, -2.0f, 65504.0f}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.at("i").dtype, "I64");
  EXPECT_EQ(f.bytes("i")[0], 7);
  expect_user_error([&] { f.read_f32("i"); }, {"h.safetensors", "i", "I64"});
  expect_user_error([&] { f.at("missing.weight"); }, {"missing.weight", "no such tensor"});
  std::vector<float> wrong(3);
  expect_user_error([&] { f.read_f32("w", wrong); }, {"w", "2 elements"});
}

// Written by the reference implementation (Python safetensors 0.8.0, save_file) from
// {"z": arange(6).reshape(2,3)/7 F32, "y": arange(5)/3 BF16, "x": arange(3)/9 F16,
//  "w": arange(4) I64}, metadata {"who": "reference"}.
std::string reference_file_bytes() {
  const char* hex =
      "08010000000000007b225f5f6d657461646174615f5f223a7b2277686f223a227265666572656e6365227d2c2277223a7b22"
      "6474797065223a22493634222c227368617065223a5b345d2c22646174615f6f666673657473223a5b302c33325d7d2c227a"
      "223a7b226474797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b33322c"
      "35365d7d2c2279223a7b226474797065223a2242463136222c227368617065223a5b355d2c22646174615f6f666673657473"
      "223a5b35362c36365d7d2c2278223a7b226474797065223a22463136222c227368617065223a5b335d2c22646174615f6f66"
      "6673657473223a5b36362c37325d7d7d20202020202000000000000000000100000000000000020000000000000003000000"
      "00000000000000002549123e2549923eb76ddb3e2549123f6edb363f0000ab3e2b3f803fab3f00001c2f1c33";
  std::string bytes;
  for (const char* p = hex; p[0] && p[1]; p += 2)
    bytes.push_back(static_cast<char>(std::stoi(std::string(p, 2), nullptr, 16)));
  return bytes;
}

TEST(Safetensors, ReadsFileFromReferenceWriter) {
  TempDir dir;
  const std::string ref = reference_file_bytes();
  ASSERT_EQ(ref.size(), 344u);
  SafetensorsFile f = SafetensorsFile::open(make_file(dir / "ref.safetensors", ref.substr(8, 264), ref.substr(272)));
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"who", "reference"}}));
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.at("z").shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> z = f.read_f32("z"), y = f.read_f32("y"), x = f.read_f32("x");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(z[i], static_cast<float>(i) / 7.0f);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(y[i], bf16_to_float(float_to_bf16(static_cast<float>(i) / 3.0f)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(x[i], f16_to_float(float_to_f16(static_cast<float>(i) / 9.0f)));
  std::span<const uint8_t> w = f.bytes("w");
  ASSERT_EQ(w.size(), 32u);
  EXPECT_EQ(w[8], 1);
  EXPECT_EQ(w[24], 3);
}

TEST(Safetensors, WriterMatchesReferenceLayout) {
  // The same F32/BF16/F16 tensors (bytes taken from the reference file) must come out as
  // the reference writer lays them out: F32, then BF16, then F16, space-padded header.
  TempDir dir;
  const std::string ref = reference_file_bytes();
  const char* data = ref.data() + 272 + 32;  // after the I64 tensor, which we do not write
  write_safetensors(dir / "ours.safetensors",
                    {{"x", ir::DType::f16, {3}, data + 34},
                     {"y", ir::DType::bf16, {5}, data + 24},
                     {"z", ir::DType::f32, {2, 3}, data}},
                    {{"who", "reference"}});
  std::string header =
      R"({"__metadata__":{"who":"reference"},"z":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("y":{"dtype":"BF16","shape":[5],"data_offsets":[24,34]},"x":{"dtype":"F16","shape":[3],"data_offsets":[34,40]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  EXPECT_EQ(read_all(dir / "ours.safetensors"), le64(header.size()) + header + ref.substr(272 + 32));
}

TEST(Safetensors, DamagedFilesAreUserErrors) {
  TempDir dir;
  auto f32_entry = [](const std::string& name, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  std::string p;
  p = dir / "tiny.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "truncated", "8-byte"});
  p = dir / "cut-header.safetensors";
  std::ofstream(p, std::ios::binary) << le64(1000) << "{}";
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "truncated", "1000"});
  p = dir / "huge-header.safetensors";
  std::ofstream(p, std::ios::binary) << le64(200'000'000) << "{}";
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "100 MB"});
  p = make_file(dir / "json.safetensors", "{\"a\": nope}", "");
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "not valid JSON"});
  p = make_file(dir / "array.safetensors", "[1]", "");
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "'{'"});
  p = make_file(dir / "short-data.safetensors", "{" + f32_entry("a", "[2]", "[0,8]") + "}", "abcd");
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "a.data_offsets", "beyond the 4 bytes", "truncated"});
  p = make_file(dir / "overlap.safetensors",
                "{" + f32_entry("a", "[2]", "[0,8]") + "," + f32_entry("b", "[2]", "[4,12]") + "}",
                std::string(12, 'x'));
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "b.data_offsets", "overlaps tensor 'a'"});
  p = make_file(dir / "hole.safetensors",
                "{" + f32_entry("a", "[1]", "[0,4]") + "," + f32_entry("b", "[1]", "[8,12]") + "}",
                std::string(12, 'x'));
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "hole of 4 bytes"});
  p = make_file(dir / "trailing.safetensors", "{" + f32_entry("a", "[1]", "[0,4]") + "}", std::string(8, 'x'));
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "4 bytes after the last tensor"});
  p = make_file(dir / "size.safetensors", "{" + f32_entry("a", "[3]", "[0,8]") + "}", std::string(8, 'x'));
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "needs 12 bytes"});
  p = make_file(dir / "negative.safetensors", "{" + f32_entry("a", "[1]", "[-4,0]") + "}", "");
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "non-negative"});
  p = make_file(dir / "dtype.safetensors", R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})",
                std::string(16, 'x'));
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "a", "unknown dtype 'F128'"});
  p = make_file(dir / "meta.safetensors", R"({"__metadata__":{"step":3}})", "");
  expect_user_error([&] { SafetensorsFile::open(p); }, {p, "__metadata__.step", "must be a string"});
  expect_user_error([&] { SafetensorsFile::open(dir / "absent.safetensors"); }, {"absent.safetensors", "cannot open"});
}

TEST(Safetensors, WriterRefusesBadTensors) {
  TempDir dir;
  const std::string p = dir / "bad.safetensors";
  int32_t ints[2] = {1, 2};
  float f[2] = {1, 2};
  expect_user_error(
      [&] {
        write_safetensors(p, {{"ids", ir::DType::i32, {2}, ints}});
      },
      {"ids", "i32", "f32, bf16 or f16"});
  expect_user_error(
      [&] {
        write_safetensors(p, {{"w", ir::DType::f32, {2}, f}, {"w", ir::DType::f32, {2}, f}});
      },
      {"w", "two tensors"});
  expect_user_error([&] { write_safetensors(p, {{"w", ir::DType::f32, {-2}, f}}); }, {"w", "negative dimension"});
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST(Safetensors, FailedWriteKeepsOldFile) {
  TempDir dir;
  const std::string p = dir / "ckpt.safetensors";
  std::vector<float> v1 = {1, 2, 3}, v2(1 << 20, 9.0f);
  write_safetensors(p, {{"w", ir::DType::f32, {3}, v1.data()}});
  const std::string old_bytes = read_all(p);

  // The temporary file cannot be created.
  fs::create_directory(p + ".tmp");
  expect_user_error([&] { write_safetensors(p, {{"w", ir::DType::f32, {1 << 20}, v2.data()}}); }, {p, "unchanged"});
  fs::remove(p + ".tmp");
  EXPECT_EQ(read_all(p), old_bytes);

  // The disk fills up in the middle of the data: PATH.tmp leads to /dev/full.
  if (fs::exists("/dev/full")) {
    fs::create_symlink("/dev/full", p + ".tmp");
    expect_user_error(
        [&] {
          write_safetensors(p, {{"w", ir::DType::f32, {1 << 20}, v2.data()}});
        },
        {p, "cannot write"});
    EXPECT_FALSE(fs::exists(fs::symlink_status(p + ".tmp")));
    EXPECT_EQ(read_all(p), old_bytes);
    EXPECT_EQ(SafetensorsFile::open(p).read_f32("w"), v1);
  }

  // The target is a folder: the rename fails and no temporary file is left behind.
  const std::string folder = dir / "folder.safetensors";
  fs::create_directories(folder + "/inside");
  expect_user_error([&] { write_safetensors(folder, {{"w", ir::DType::f32, {3}, v1.data()}}); }, {folder, "rename"});
  EXPECT_TRUE(fs::is_directory(folder + "/inside"));
  EXPECT_FALSE(fs::exists(folder + ".tmp"));
}
