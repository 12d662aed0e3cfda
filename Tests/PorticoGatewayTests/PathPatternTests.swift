import Testing
@testable import PorticoGateway

@Suite struct PathPatternTests {
    func matches(_ pattern: String, _ path: String) -> Bool { PathPattern(pattern).matches(path) }

    @Test func prefixAndAnchor() {
        #expect(matches("/", "/anything"))
        #expect(matches("/foo", "/foobar"))
        #expect(matches("/foo", "/foo/x"))
        #expect(!matches("/foo", "/fo"))
        #expect(matches("/foo/{id}$", "/foo/1"))
        #expect(!matches("/foo/{id}$", "/foo/1/x"))
        #expect(matches("/foo$", "/foo"))
        #expect(!matches("/foo$", "/foo/"))
    }

    @Test func placeholdersTakeOneSegment() {
        for value in ["a@b", "a:b", "a%b", "a.b", "a-b", "a~b"] {
            #expect(matches("/foo/{w}/bar", "/foo/\(value)/bar"), "\(value)")
        }
        #expect(!matches("/foo/{w}/bar", "/foo/a/b/bar"))
        #expect(!matches("/foo/{w}", "/foo/"))
        #expect(matches("/v1/{a}.json", "/v1/x.y.json"))
    }

    @Test func slashesCollapseAndQueryIsDropped() {
        #expect(matches("//foo///bar", "/foo/bar"))
        #expect(matches("/orders/{id}?expand={what}", "/orders/7"))
    }

    @Test func dotIsLiteralOtherMetacharactersAreRegex() {
        #expect(!matches("/a.b", "/axb"))
        // APIcast issue #1001: `+` keeps its regex meaning.
        #expect(matches("/say-hello+$", "/say-hellooo"))
        #expect(!matches("/say-hello+$", "/say-hello+"))
        #expect(matches("/a(b)", "/ab"))
    }

    @Test func encodedPathsMatchEncodedPatterns() {
        let subject = RequestPath.subject("/foo%20/bar/")
        #expect(subject == "/foo%20/bar/")
        #expect(matches("/foo%20/bar/", subject ?? ""))
        #expect(RequestPath.subject("/a/./b/../c//d") == "/a/c/d")
        #expect(RequestPath.subject("/../x") == nil)
        #expect(RequestPath.subject("/caf%C3%A9") == "/caf%C3%A9")
    }
}
