// Record evaluates each JSONPath in paths.txt against doc.json with the Jayway JsonPath
// library on the classpath and prints "path<TAB>OK<TAB>json" or "path<TAB>ERR<TAB>message".
// jayway_test.go compares the jsonpath package with the recorded output; see there for how
// to regenerate it.
import com.jayway.jsonpath.Configuration;
import com.jayway.jsonpath.JsonPath;
import net.minidev.json.JSONValue;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

public class Record {
  public static void main(String[] args) throws Exception {
    String doc = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
    Object json = Configuration.defaultConfiguration().jsonProvider().parse(doc);
    for (String path : Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8)) {
      if (path.isEmpty() || path.startsWith("#")) {
        continue;
      }
      String out;
      try {
        out = "OK\t" + JSONValue.toJSONString(JsonPath.read(json, path));
      } catch (Throwable e) {
        out = "ERR\t" + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' ');
      }
      System.out.println(path + "\t" + out);
    }
  }
}
