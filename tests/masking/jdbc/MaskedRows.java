// Reads masked rows through regogate with pgjdbc in binary mode
// (tests/masking/test_pgjdbc_binary.py).
//
//   java -cp postgresql.jar:CLASSES MaskedRows JDBC_URL USER PASSWORD SQL...
//
// Each SQL runs as a PreparedStatement executed twice (the second Execute reuses the
// server-prepared statement: Bind/Execute without Parse). Every column of every row is
// read with getObject AND getString. One JSON line per execution on stdout:
//   {"sql": ..., "run": 1|2, "ok": true, "columns": [{"name", "type", "binary"}...],
//    "rows": [[{"class", "object", "string"}...]...]}
// or {"sql": ..., "run": n, "ok": false, "error": ...}. Exit code 1 if any failed.

import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.Properties;

public final class MaskedRows {
  private MaskedRows() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: MaskedRows JDBC_URL USER PASSWORD SQL...");
      System.exit(2);
    }
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    // The URL carries prepareThreshold=-1 and binaryTransfer=true (and, in the test's
    // all-binary mode, binaryTransferEnable for the text types).
    boolean failed = false;
    Method isBinary = Class.forName("org.postgresql.jdbc.PgResultSet")
        .getDeclaredMethod("isBinary", int.class);
    isBinary.setAccessible(true);
    try (Connection conn = DriverManager.getConnection(args[0], props)) {
      conn.setAutoCommit(true);
      for (int q = 3; q < args.length; q++) {
        String sql = args[q];
        try (PreparedStatement st = conn.prepareStatement(sql)) {
          for (int run = 1; run <= 2; run++) {
            StringBuilder out = new StringBuilder();
            out.append("{\"sql\":").append(quote(sql)).append(",\"run\":").append(run);
            try (ResultSet rs = st.executeQuery()) {
              ResultSetMetaData md = rs.getMetaData();
              int n = md.getColumnCount();
              StringBuilder cols = new StringBuilder("[");
              for (int c = 1; c <= n; c++) {
                if (c > 1) cols.append(',');
                cols.append("{\"name\":").append(quote(md.getColumnLabel(c)))
                    .append(",\"type\":").append(quote(md.getColumnTypeName(c)))
                    .append(",\"binary\":").append(isBinary.invoke(rs, c))
                    .append('}');
              }
              cols.append(']');
              StringBuilder rows = new StringBuilder("[");
              boolean firstRow = true;
              while (rs.next()) {
                if (!firstRow) rows.append(',');
                firstRow = false;
                rows.append('[');
                for (int c = 1; c <= n; c++) {
                  if (c > 1) rows.append(',');
                  Object obj = rs.getObject(c);
                  String str = rs.getString(c);
                  rows.append("{\"class\":")
                      .append(quote(obj == null ? null : obj.getClass().getName()))
                      .append(",\"object\":").append(quote(obj == null ? null : obj.toString()))
                      .append(",\"string\":").append(quote(str)).append('}');
                }
                rows.append(']');
              }
              rows.append(']');
              out.append(",\"ok\":true,\"columns\":").append(cols)
                  .append(",\"rows\":").append(rows).append('}');
            } catch (SQLException | RuntimeException exc) {
              failed = true;
              out.setLength(0);
              out.append("{\"sql\":").append(quote(sql)).append(",\"run\":").append(run)
                  .append(",\"ok\":false,\"error\":").append(quote(exc.toString())).append('}');
            }
            System.out.println(out);
          }
        }
      }
    }
    System.out.flush();
    System.exit(failed ? 1 : 0);
  }

  private static String quote(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (ch < 0x20) {
            b.append(String.format("\\u%04x", (int) ch));
          } else {
            b.append(ch);
          }
      }
    }
    return b.append('"').toString();
  }
}
