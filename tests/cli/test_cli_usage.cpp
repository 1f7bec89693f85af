// The command line as a user meets it (issue 16): --help by topic with allowed values and
// examples, --version with the git revision, NO_COLOR and --color, size suffixes, the default
// thread count.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <set>

#include "cli_util.hpp"

namespace qcp {
namespace {

using test::CliResult;
using test::run_qcp;

const std::string kModel = test::models_dir() + "/fmnist_resnet.onnx";
const std::string kMlp = test::models_dir() + "/fmnist_mlp.onnx";
const std::string kEsc = "\x1b[";

// Runs `qcp <args>` with its stdout and stderr on a pseudo-terminal (what a user's shell gives
// it), `env` exported first; returns the exit status and everything it wrote.
CliResult run_on_terminal(const std::string& args, const std::string& env = "") {
    int master = -1;
    const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid < 0) return {-1, "", "forkpty failed"};
    if (pid == 0) {
        const std::string cmd = "unset NO_COLOR; export TERM=xterm " + env + "; exec " + QCP_BINARY + " " + args;
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) out.append(buf, static_cast<size_t>(n));
        else if (n < 0 && errno == EINTR) continue;
        else break;  // EIO: the child closed the terminal
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, out};
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qcp: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliUsage, VersionNamesTheGitRevision) {
    const CliResult r = run_qcp("--version");
    EXPECT_EQ(r.code, 0);
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^qcp [0-9.]+ \(git ([0-9a-f]{7,}(-dirty)?|unknown)\)\n$)"))) << r.out;
}

// Section titles of a --help text, in order.
std::vector<std::string> sections(const std::string& help) {
    std::vector<std::string> out;
    const std::regex title(R"(\n([A-Z][A-Za-z ]*):\n)");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), title); it != std::sregex_iterator(); ++it)
        out.push_back((*it)[1]);
    return out;
}

TEST(CliUsage, CompressHelpIsGroupedByTopicWithAllowedValues) {
    const CliResult r = run_qcp("compress --help");
    ASSERT_EQ(r.code, 0);
    const std::vector<std::string> expected = {"Positionals", "Options", "Model", "Method", "Budget",
                                               "Calibration", "Check",   "Output", "Run", "Examples"};
    EXPECT_EQ(sections(r.out), expected) << r.out;
    for (const char* values : {"{admm-cp,cp-als,rtn,gptq,pq,mixed}", "{auto,packed,qdq,float}", "{tensor,channel}",
                               "{weight,output}", "{minmax,percentile,mse,entropy}", "{8,none}", "{rgb,bgr}",
                               "{stretch,fit}", "{nchw,nhwc}", "{2,3,4,5,6,7,8,auto}"})
        EXPECT_NE(r.out.find(values), std::string::npos) << values;
    EXPECT_NE(r.out.find("--target-size SIZE"), std::string::npos);
    EXPECT_NE(r.out.find("powers of 1024"), std::string::npos);
    for (const std::string cmd : {"eval", "compare", "sweep", "convert"}) {
        SCOPED_TRACE(cmd);
        const CliResult h = run_qcp(cmd + " --help");
        ASSERT_EQ(h.code, 0);
        const auto s = sections(h.out);
        EXPECT_GE(s.size(), 5u) << h.out;
        EXPECT_EQ(s.back(), "Run") << h.out;
    }
}

// Every `--flag` in the examples at the end of `help_args`'s text is an option of the command
// the example runs, so an example cannot go stale.
void expect_examples_use_real_flags(const std::string& help_args, size_t at_least) {
    const CliResult r = run_qcp(help_args);
    ASSERT_EQ(r.code, 0);
    const size_t at = r.out.find("\nExamples:\n");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::regex example(R"(\n  qcp ((?:-\S+ )*(?:--\S+ \S+ )*)(inspect|eval|compress|compare|sweep|convert) ([^\n]*))");
    size_t examples = 0;
    const std::string tail = r.out.substr(at);
    for (auto it = std::sregex_iterator(tail.begin(), tail.end(), example); it != std::sregex_iterator(); ++it) {
        ++examples;
        const std::string global = (*it)[1], command = (*it)[2], args = (*it)[3];
        const std::string top_help = run_qcp("--help").out, command_help = run_qcp(command + " --help").out;
        const std::regex flag(R"((?:^|\s)(--?[a-z][a-z0-9-]*))");
        for (const auto& [text, help] : {std::pair{global, top_help}, std::pair{args, command_help}})
            for (auto f = std::sregex_iterator(text.begin(), text.end(), flag); f != std::sregex_iterator(); ++f)
                EXPECT_TRUE(std::regex_search(help, std::regex("\\s" + std::string((*f)[1]) + "[ ,]")))  // "-o,--out"
                    << (*f)[1] << " in: " << (*it)[0];
    }
    EXPECT_GE(examples, at_least) << tail;
}

TEST(CliUsage, HelpEndsWithExamplesThatUseRealFlags) {
    expect_examples_use_real_flags("--help", 4);
    expect_examples_use_real_flags("compress --help", 3);
}

TEST(CliUsage, ValuesOutsideTheAllowedSetAreOneLineErrors) {
    test::TempDir dir;
    const std::string compress = "compress " + kModel + " -o " + (dir / "o.onnx").string() + " ";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {compress + "--method magic", "--method: magic not in {admm-cp,cp-als,rtn,gptq,pq,mixed}"},
        {compress + "--format int3", "--format: int3 not in {auto,packed,qdq,float}"},
        {compress + "--granularity row", "--granularity: row not in {tensor,channel}"},
        {compress + "--objective loss", "--objective: loss not in {weight,output}"},
        {compress + "--act-calib kl", "--act-calib: kl not in {minmax,percentile,mse,entropy}"},
        {compress + "--bits 9", "--bits: 9 not in {2,3,4,5,6,7,8,auto}"},
        {compress + "--layout chw", "--layout: chw not in {nchw,nhwc}"},
        {compress + "--channels 2", "--channels: 2 not in {1,3}"},
        {compress + "--threads -2", "--threads"},
        {"sweep " + kMlp + " --data x --out " + (dir / "s").string() + " --methods rtn,magic", "--methods: magic not in"},
        {"eval " + kMlp + " --data x --resize crop", "--resize: crop not in {stretch,fit}"},
        {"--color sometimes inspect " + kMlp, "--color: sometimes not in {auto,always,never}"},
    };
    for (const auto& [args, needle] : cases) {
        SCOPED_TRACE(args);
        expect_one_line_error(run_qcp(args), needle);
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "o.onnx"));
    EXPECT_EQ(run_qcp("inspect --json " + kMlp + " --help").code, 0);
    // case is not significant where it never was
    EXPECT_EQ(run_qcp("-q eval " + kMlp + " --data " + test::kFashionTestImages + " --count 4 --layout NCHW --channel-order RGB").code, 0);
}

TEST(CliUsage, SizesTakeSuffixesEverywhere) {
    test::TempDir dir;
    const std::string compress = "compress " + kMlp + " -o " + (dir / "o.onnx").string() + " --method rtn --dry-run --json --target-size ";
    for (const auto& [text, bytes] : {std::pair<std::string, uint64_t>{"200K", 200 * 1024}, {"200000", 200000},
                                      {"0.2M", uint64_t(0.2 * 1024 * 1024)}}) {
        SCOPED_TRACE(text);
        const CliResult r = run_qcp(compress + text);
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_NE(r.out.find("\"target_size\": " + std::to_string(bytes) + ","), std::string::npos) << r.out.substr(0, 2000);
    }
    for (const std::string bad : {"5Q", "-1M", "''", "1e30T", "99999999999999999999", "0x10", "5MM"}) {
        SCOPED_TRACE(bad);
        expect_one_line_error(run_qcp(compress + bad), "--target-size");
        expect_one_line_error(run_qcp("--max-memory " + bad + " inspect " + kMlp), "--max-memory");
    }
    expect_one_line_error(run_qcp(compress + "0"), "--target-size must be positive");
    EXPECT_EQ(run_qcp("--max-memory 512M inspect " + kMlp).code, 0);
    EXPECT_EQ(run_qcp("--max-memory 0 inspect " + kMlp).code, 0);
}

// A command that logs at info level (the level name is what spdlog colours).
const std::string kLogs = "eval " + kMlp + " --data " + test::kFashionTestImages + " --count 4";

TEST(CliUsage, ColourOnlyOnATerminalWithoutNoColor) {
    const CliResult tty = run_on_terminal("-v " + kLogs);
    ASSERT_EQ(tty.code, 0) << tty.out;
    ASSERT_NE(tty.out.find("qcp: "), std::string::npos) << tty.out;
    EXPECT_NE(tty.out.find(kEsc), std::string::npos) << tty.out;
    for (const std::string env : {"NO_COLOR=1", "NO_COLOR=0", "NO_COLOR=yes", "TERM=dumb"}) {
        SCOPED_TRACE(env);
        const CliResult r = run_on_terminal("-v " + kLogs, env);
        EXPECT_EQ(r.code, 0);
        EXPECT_NE(r.out.find("qcp: "), std::string::npos) << r.out;
        EXPECT_EQ(r.out.find(kEsc), std::string::npos) << r.out;
    }
    EXPECT_NE(run_on_terminal("-v " + kLogs, "NO_COLOR=").out.find(kEsc), std::string::npos);  // empty: unset
    EXPECT_EQ(run_on_terminal("-v --color never " + kLogs).out.find(kEsc), std::string::npos);
    EXPECT_NE(run_on_terminal("-v --color always " + kLogs, "NO_COLOR=1").out.find(kEsc), std::string::npos);

    const CliResult pipe = run_qcp("-v " + kLogs);  // stderr to a file
    ASSERT_EQ(pipe.code, 0);
    ASSERT_NE(pipe.err.find("qcp: "), std::string::npos);
    EXPECT_EQ(pipe.err.find(kEsc), std::string::npos) << pipe.err;
    EXPECT_EQ(pipe.out.find(kEsc), std::string::npos);
    const CliResult forced = run_qcp("-v --color always " + kLogs);
    EXPECT_NE(forced.err.find(kEsc), std::string::npos) << forced.err;
    EXPECT_EQ(forced.out.find(kEsc), std::string::npos);  // results on stdout never coloured
}

TEST(CliUsage, DefaultThreadsFromOmpNumThreads) {
    const CliResult r = test::run_cli("-v " + kLogs, "OMP_NUM_THREADS=3");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("threads: 3 by default (OMP_NUM_THREADS=3"), std::string::npos) << r.err;
    const CliResult junk = test::run_cli("-v " + kLogs, "OMP_NUM_THREADS=lots");
    ASSERT_EQ(junk.code, 0) << junk.err;
    EXPECT_NE(junk.err.find("OMP_NUM_THREADS='lots' ignored"), std::string::npos) << junk.err;
    const CliResult given = test::run_cli("-v " + kLogs + " --threads 2", "OMP_NUM_THREADS=3");
    EXPECT_NE(given.err.find("threads: 2 (as asked)"), std::string::npos) << given.err;
}

}  // namespace
}  // namespace qcp
